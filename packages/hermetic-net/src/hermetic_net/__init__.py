"""hermetic-net: the ``network`` guard (work in progress)."""
