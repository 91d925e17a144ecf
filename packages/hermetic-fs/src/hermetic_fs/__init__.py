"""hermetic-fs: the ``filesystem`` guard (work in progress)."""
