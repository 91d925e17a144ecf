"""hermetic-cli: the ``hermetic`` command.

``hermetic [FLAGS] -- TARGET [ARGS...]`` runs a Python program (a console script, a Python
interpreter with its own arguments, a ``.py`` file or ``module:function``) with the flags of
whatever guards are installed. See ``hermetic --help`` and docs/cli.md.

This module is on the start-up path of every run: it defines the exit codes and a ``main``
that imports the rest only when called.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

#: The target ended on an uncaught ``PolicyViolation`` (one ``hermetic: blocked <guard>:
#: <what>`` line on stderr). Chosen outside the range programs and shells commonly use.
EXIT_VIOLATION = 97
#: hermetic could not run the target as asked: a usage error, an unknown flag, a guard that
#: is not installed, or a target it refuses (never run unguarded).
EXIT_USAGE = 2


def cache_root() -> str:
    """Hermetic's cache directory; the same rule as ``hermetic.bootstrap.cache_root``.

    Repeated here because importing the assembler costs more than a whole cached run.
    """
    explicit = os.environ.get("HERMETIC_CACHE_DIR")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(base, "hermetic"))


_saved_bytecode_settings: tuple[bool, str | None] | None = None


def _own_bytecode_cache() -> None:
    """Cache the bytecode of hermetic's own modules under hermetic's cache directory.

    With ``PYTHONDONTWRITEBYTECODE`` set, modules without a ``.pyc`` (an editable install)
    are compiled from source on every start: ~10 ms for the command's own code. Like the
    bootstrap's code cache, hermetic then keeps that bytecode in its cache directory (via
    ``sys.pycache_prefix``), never next to anyone's sources, and only until the target's
    own code starts (:func:`_restore_bytecode_settings`).
    """
    global _saved_bytecode_settings
    if not sys.dont_write_bytecode or sys.pycache_prefix or _saved_bytecode_settings:
        return
    _saved_bytecode_settings = (sys.dont_write_bytecode, sys.pycache_prefix)
    sys.pycache_prefix = os.path.join(cache_root(), "pycache")
    sys.dont_write_bytecode = False


def _restore_bytecode_settings() -> None:
    """Give the target the interpreter's bytecode settings as they were at start-up."""
    global _saved_bytecode_settings
    if _saved_bytecode_settings is not None:
        sys.dont_write_bytecode, sys.pycache_prefix = _saved_bytecode_settings
        _saved_bytecode_settings = None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hermetic`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit code for the hermetic-level outcomes; a target run in bootstrap mode
    replaces this process and never returns, and one run in-process ends with its own exit.
    """
    _own_bytecode_cache()
    try:
        from hermetic_cli.app import run

        return run(argv)
    finally:
        _restore_bytecode_settings()


__all__ = ["EXIT_USAGE", "EXIT_VIOLATION", "cache_root", "main"]
