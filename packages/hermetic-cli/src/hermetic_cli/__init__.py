"""hermetic-cli: the ``hermetic`` command (work in progress)."""

from __future__ import annotations

import sys


def main() -> int:
    """Entry point of the ``hermetic`` console script."""
    sys.stderr.write("hermetic: the command line is not implemented yet\n")
    return 2
