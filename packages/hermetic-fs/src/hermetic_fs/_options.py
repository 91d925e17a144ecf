"""How the filesystem guard's option values are checked, canonicalised and merged.

Paths are resolved once here, when the policy is created (``realpath``: relative paths
against the current directory, ``..`` and symlinks followed), so a stacked or embedded
policy always holds absolute, real paths. The guard resolves paths again on every check.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def _real(path: str) -> str:
    if not path:
        raise ValueError("an empty path names no directory")
    if "\0" in path:
        raise ValueError(f"{path!r} contains a NUL byte")
    return os.path.realpath(os.path.expanduser(path))


def normalize_root(value: str | None) -> str | None:
    """The real path of an existing directory, for ``fs_root``.

    Raises:
        ValueError: the path is empty, does not exist or is not a directory.
    """
    if value is None:
        return None
    real = _real(value)
    if not os.path.exists(real):
        raise ValueError(f"the root {value!r} does not exist")
    if not os.path.isdir(real):
        raise ValueError(f"the root {value!r} is not a directory")
    return real


def normalize_writable(value: Iterable[str]) -> tuple[str, ...]:
    """The real path of each ``allow_write`` entry (which need not exist yet).

    Raises:
        ValueError: an entry is empty.
    """
    return tuple(dict.fromkeys(_real(path) for path in value))


def within(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or lies under it (both real, absolute paths)."""
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def merge_writable(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    """Where both policies allow writes: the deeper path of each pair that nests.

    ``("/tmp",)`` with ``("/tmp/out", "/srv")`` gives ``("/tmp/out",)``: a path stays
    writable only if each policy allows writing to it.
    """
    both = []
    second = tuple(b)
    for x in a:
        for y in second:
            if within(x, y):
                both.append(x)
            elif within(y, x):
                both.append(y)
    return tuple(dict.fromkeys(both))
