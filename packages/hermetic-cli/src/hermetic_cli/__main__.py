"""``python -m hermetic_cli``: the same as the ``hermetic`` command."""

from __future__ import annotations

import sys

from hermetic_cli import main

if __name__ == "__main__":
    sys.exit(main())
