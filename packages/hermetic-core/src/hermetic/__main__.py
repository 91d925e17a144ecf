"""``python -m hermetic``: the command line, when hermetic-cli is installed."""

from __future__ import annotations

import sys


def _main() -> int:
    try:
        from hermetic_cli import main
    except ImportError as exc:
        if exc.name is None or not exc.name.startswith("hermetic_cli"):
            raise
        sys.stderr.write(
            "hermetic: the command line is in the hermetic-cli distribution: "
            "pip install hermetic-cli\n"
        )
        return 2
    return int(main() or 0)


if __name__ == "__main__":
    sys.exit(_main())
