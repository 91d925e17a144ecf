"""The ``subprocess`` guard's declaration: its options, and how ``allow_commands`` is checked.

``block_subprocess=True`` (``--no-subprocess``) refuses every way a Python program starts
another program or forks; ``allow_commands`` (``--allow-command CMD``, repeatable) names the
executables that may still run. An entry is checked and made canonical here, when the policy
is created: a bare name (``git``) stays a name, to be looked up on ``PATH`` by the patch
module when the guard is installed (in the bootstrap that is the target's own interpreter
and environment); a path (anything with a ``/``, or starting with ``~``) becomes absolute.
A malformed entry is a ``ValueError`` naming it and saying what to write instead.
"""

from __future__ import annotations

import os

from hermetic.contract import INTERSECTION, Option, define_guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_SHAPE = "give an executable's name (git) or path (/usr/bin/git)"
_WILDCARDS = frozenset("*?[]")
# Characters a shell gives a meaning to: in a bare name they mean a command line was
# written where one executable was expected.
_SHELL_SYNTAX = frozenset(";|&$<>()`'\"\\!{}#")


def normalize_commands(value: Iterable[str]) -> tuple[str, ...]:
    """Validate and canonicalise every ``allow_commands`` entry (idempotent)."""
    return tuple(dict.fromkeys(normalize_command(entry) for entry in value))


def normalize_command(entry: str) -> str:
    """The canonical form of one entry; ``ValueError`` with advice if it is malformed."""
    if not isinstance(entry, str):
        raise ValueError(f"entries must be strings, not {entry!r}")
    if not entry:
        raise ValueError(f"an empty entry; {_SHAPE}")
    if "\0" in entry:
        raise ValueError(f"{entry!r} contains a NUL byte; {_SHAPE}")
    if not entry.strip():
        raise ValueError(f"{entry!r} is only white space; {_SHAPE}")
    if entry != entry.strip():
        raise ValueError(f"{entry!r} has white space around it; write {entry.strip()!r}")
    if any(not c.isprintable() and not c.isspace() for c in entry):
        raise ValueError(f"{entry!r} contains a control character; {_SHAPE}")
    if _WILDCARDS.intersection(entry):
        raise ValueError(f"{entry!r}: wildcards are not supported; list each executable")
    if entry.startswith("~"):
        entry = os.path.expanduser(entry)
    if "/" not in entry:
        return _normalize_name(entry)
    return _normalize_path(entry)


def _normalize_name(entry: str) -> str:
    head = entry.split()[0]
    if head != entry:
        raise ValueError(
            f"{entry!r} contains white space; give the executable alone ({head!r}): "
            "its arguments cannot be restricted"
        )
    if _SHELL_SYNTAX.intersection(entry):
        raise ValueError(f"{entry!r} looks like a shell command line; give one executable")
    if entry in (".", ".."):
        raise ValueError(f"{entry!r} is a directory, not an executable; {_SHAPE}")
    return entry


def _normalize_path(entry: str) -> str:
    if entry.endswith("/"):
        raise ValueError(f"{entry!r} names a directory, not an executable; {_SHAPE}")
    path = os.path.abspath(entry)
    head = entry.split()[0]
    if head != entry and not os.path.lexists(path) and os.path.isfile(head):
        raise ValueError(
            f"{entry!r} does not exist; give the executable alone ({head!r}): "
            "its arguments cannot be restricted"
        )
    if any(c.isspace() and c != " " for c in entry):
        raise ValueError(f"{entry!r} contains a control character; {_SHAPE}")
    if os.path.isdir(path):
        raise ValueError(f"{entry!r} is a directory, not an executable; {_SHAPE}")
    return path


subprocess_guard = define_guard(
    "subprocess",
    summary="Refuses starting programs and forking, except the allowed executables.",
    patch_module="hermetic_proc._subprocess_patch",
    options=[
        Option(
            "block_subprocess",
            bool,
            flags=["--no-subprocess"],
            aliases=["no_subprocess"],
            help="Refuse starting programs and forking: subprocess, os.system, os.popen, "
            "os.exec*, os.spawn*, os.posix_spawn, os.fork, pty, multiprocessing.",
            enables=True,
        ),
        Option(
            "allow_commands",
            list,
            flags=["--allow-command"],
            metavar="CMD",
            help="Still allow running this executable: a name looked up on PATH "
            "when the guard starts, or a path; matched on the real path of the program that "
            "would run. Allowing a shell allows every command.",
            merge=INTERSECTION,
            normalize=normalize_commands,
        ),
    ],
)

__all__ = ["normalize_command", "normalize_commands", "subprocess_guard"]
