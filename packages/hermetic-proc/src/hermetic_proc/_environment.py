"""The ``environment`` guard: its options, how ``allow_env`` is checked and how it merges.

``block_environment=True`` (``--no-environment``, ``--no-env``) refuses reading and
changing environment variables; ``allow_env`` (``--allow-env NAME``, repeatable) lists the
variables a program may still read and set, by name or glob pattern (``LC_*``). The
implementation is the patch module ``hermetic_proc._environment_patch``.
"""

from __future__ import annotations

from hermetic.contract import Option, define_guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def _check_entry(entry: str) -> None:
    if not entry:
        raise ValueError("an empty entry; give a variable name (HOME) or a pattern (LC_*)")
    if entry != entry.strip() or any(c.isspace() for c in entry):
        raise ValueError(f"{entry!r} contains white space; a variable name has none")
    if "\0" in entry:
        raise ValueError(f"{entry!r} contains a NUL byte")
    if "=" in entry:
        name = entry.partition("=")[0]
        raise ValueError(
            f"{entry!r} looks like an assignment; give the variable's name alone ({name})"
        )
    if entry.startswith("$"):
        raise ValueError(f"{entry!r}: give the variable's name without the $ ({entry[1:]})")
    depth = 0
    for c in entry:
        if c == "[":
            depth = 1
        elif c == "]":
            depth = 0
    if depth:
        raise ValueError(f"{entry!r} has a [ that is never closed")


def normalize_allow_env(value: Iterable[str]) -> tuple[str, ...]:
    """Check every ``allow_env`` entry: a variable name or a glob pattern (``*?[...]``).

    Raises:
        ValueError: an entry is empty, contains white space, a NUL or ``=``, starts with
            ``$`` or has an unclosed ``[``.
    """
    entries = tuple(value)
    for entry in entries:
        _check_entry(entry)
    return entries


def merge_allow_env(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    """What both policies allow: each entry of one that an entry of the other covers.

    ``("LC_*", "PATH")`` with ``("LC_ALL", "HOME")`` gives ``("LC_ALL",)``; ``("*",)``
    with anything gives that thing. Patterns that overlap without one containing the
    other allow nothing (stricter wins).
    """
    from hermetic_proc._environment_patch import covers

    first, second = tuple(a), tuple(b)
    both = [x for x in first if any(covers(y, x) for y in second)]
    both += [y for y in second if any(covers(x, y) for x in first)]
    return tuple(dict.fromkeys(both))


environment_guard = define_guard(
    "environment",
    summary="Refuses reading and changing environment variables, except the allowed ones.",
    patch_module="hermetic_proc._environment_patch",
    options=[
        Option(
            "block_environment",
            bool,
            flags=["--no-environment", "--no-env"],
            aliases=["no_environment", "no_env"],
            help="Refuse reading, listing and changing environment variables (os.environ, "
            "os.getenv, os.putenv...); children get only the variables the policy lets "
            "Python itself see.",
            enables=True,
        ),
        Option(
            "allow_env",
            list,
            flags=["--allow-env"],
            metavar="NAME",
            help="Let the program read and set this variable (glob patterns "
            "such as 'LC_*' allowed; '*' allows everything).",
            merge=merge_allow_env,
            normalize=normalize_allow_env,
        ),
    ],
)

__all__ = ["environment_guard", "merge_allow_env", "normalize_allow_env"]
