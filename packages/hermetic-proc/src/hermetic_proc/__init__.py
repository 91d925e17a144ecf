"""hermetic-proc: the ``subprocess`` and ``environment`` guards (work in progress)."""
