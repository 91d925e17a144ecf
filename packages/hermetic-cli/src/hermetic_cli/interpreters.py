"""Python interpreters as targets: recognising one, its options, and what it is.

The bootstrap reaches a foreign interpreter through ``PYTHONPATH`` and ``sitecustomize``, so
an interpreter that skips either (``-I``, ``-S``, ``-E``) or cannot run the bootstrap (not
CPython 3.9+) would run the target unguarded: such targets are refused.
"""

from __future__ import annotations

import os
import sys

from hermetic_cli.errors import CLIError

#: The interpreter options that switch the bootstrap off.
DEFEATING = {
    "I": "-I (isolated mode ignores PYTHONPATH and skips sitecustomize)",
    "S": "-S (no site, so no sitecustomize)",
    "E": "-E (ignores PYTHONPATH)",
}
#: Short options that take a value (attached or as the next argument).
_WITH_VALUE = "WX"
#: Short options that end the option list; the rest of the argument or the next is code.
_PROGRAM = "cm"
_LONG_WITH_VALUE = ("--check-hash-based-pycs",)

MINIMUM = (3, 9)
_PROBE = (
    "import sys; sys.stdout.write('%s %d %d' % "
    "(sys.implementation.name, sys.version_info[0], sys.version_info[1]))"
)


def is_python_name(name: str) -> bool:
    """Whether a file name is a CPython interpreter's: ``python``, ``python3.12t``, ..."""
    if not name.startswith("python"):
        return False
    rest = name[6:]
    if rest[-1:] in ("t", "d"):  # free-threaded and debug builds
        rest = rest[:-1]
    return all(c in "0123456789." for c in rest)


def defeating_option(args: list[str]) -> str | None:
    """The first option in an interpreter's ``args`` that would skip the bootstrap.

    Scans the options the way CPython parses them: combined short options (``-IS``),
    options with values (``-X dev``, ``-Wignore``), and stops at the program (``-c``,
    ``-m``, a script, ``-``) or ``--``.
    """
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--" or arg == "-" or not arg.startswith("-"):
            return None
        if arg.startswith("--"):
            if arg in _LONG_WITH_VALUE:
                i += 1
            continue
        for pos, char in enumerate(arg[1:], start=1):
            if char in DEFEATING:
                return DEFEATING[char]
            if char in _PROGRAM:
                return None
            if char in _WITH_VALUE:
                if pos == len(arg) - 1:
                    i += 1  # the value is the next argument
                break
    return None


def defeating_shebang_option(options: list[str]) -> str | None:
    """Like :func:`defeating_option`, for the options of a ``#!`` line (split on spaces)."""
    words = [w for option in options for w in option.split()]
    return defeating_option(words)


def same_environment(interpreter: str) -> bool:
    """Whether ``interpreter`` is hermetic's own: the same binary in the same directory.

    The directory matters: every virtual environment's ``python`` links to the same base
    binary, and which environment it runs is decided by where the link lives.
    """
    try:
        here = os.path.realpath(sys.executable)
        return os.path.realpath(interpreter) == here and os.path.realpath(
            os.path.dirname(os.path.abspath(interpreter))
        ) == os.path.realpath(os.path.dirname(os.path.abspath(sys.executable)))
    except (OSError, ValueError):
        return False


def check_supported(interpreter: str, *, launcher: bool) -> None:
    """Refuse an interpreter that cannot run the bootstrap (not CPython 3.9 or later).

    What an interpreter binary is, is cached by its path and file identity; a launcher (a
    script named ``python``, such as a pyenv shim) may run a different Python each time,
    so it is asked on every run.
    """
    real = os.path.realpath(interpreter)
    if real == os.path.realpath(sys.executable):
        return
    from hermetic_cli import cache

    facts = None if launcher else cache.interpreter_facts(real)
    if facts is None:
        facts = _probe(interpreter)
        if not launcher:
            cache.store_interpreter_facts(real, facts)
    implementation, major, minor = facts
    if implementation != "cpython" or (major, minor) < MINIMUM:
        raise CLIError(
            f"{interpreter} is {implementation} {major}.{minor}; the bootstrap needs "
            f"CPython {MINIMUM[0]}.{MINIMUM[1]} or later, so the target would run unguarded"
        )


def _probe(interpreter: str) -> tuple[str, int, int]:
    import subprocess

    try:
        out = subprocess.run(
            [interpreter, "-S", "-c", _PROBE],  # -S: no site, so no sitecustomize or .pth
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        name, major, minor = out.stdout.decode("ascii", "replace").split()
        return name, int(major), int(minor)
    except (OSError, ValueError, subprocess.SubprocessError):
        raise CLIError(
            f"{interpreter} does not run as a Python 3 interpreter; refusing to run it unguarded"
        ) from None


__all__ = [
    "DEFEATING",
    "MINIMUM",
    "check_supported",
    "defeating_option",
    "defeating_shebang_option",
    "is_python_name",
    "same_environment",
]
