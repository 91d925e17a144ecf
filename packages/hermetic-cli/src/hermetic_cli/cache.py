"""What the command line remembers between runs, so that a run does not pay for discovery.

Discovering the guards, importing them, validating the policy and hashing the assembled
bootstrap cost tens of milliseconds; a run whose flags were seen before needs none of it.
One file per hermetic environment (``<cache>/cli/env-<crc>.bin``, marshal) maps the flags,
as typed, to the bootstrap directory and the validated policy, and is trusted only while:

* the environment is the same: interpreter, version and ``sys.path``;
* nothing that decides the result changed: every ``sys.path`` directory (installing or
  removing a distribution changes its listing), and every file of ``hermetic``,
  ``hermetic_cli`` and each guard's package (editable installs change in place), compared
  by modification time, size and inode;
* the flags were given in the same working directory with the same ``HOME`` (option values
  may be relative paths);
* the bootstrap file still exists.

Anything else is a miss, which takes the full path and rewrites the file. What a foreign
interpreter is (implementation and version) is kept by its real path and file identity in
``<cache>/cli/python-<crc>.bin``. A cache that cannot be read or written only costs time.
"""

from __future__ import annotations

import marshal
import os
import sys

from hermetic_cli import cache_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    Signature = tuple[int, int, int]
    Stamps = tuple[tuple[str, Optional[Signature]], ...]

FORMAT = 1
#: At most this many flag combinations are remembered per environment (oldest dropped).
MAX_POLICIES = 64


def _crc(text: str) -> str:
    import binascii

    return format(binascii.crc32(text.encode("utf-8", "surrogateescape")), "08x")


def signature(path: str) -> Signature | None:
    """``(mtime_ns, size, inode)`` of ``path``, or None when it does not exist."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            return marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _write(path: str, data: Any) -> None:
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(marshal.dumps(data))
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass  # a cache we cannot write only costs time


def policy_key(flags: list[str]) -> tuple[str, str, tuple[str, ...]] | None:
    """The key of a flag list: ``(cwd, HOME, flags)``; None if the cwd is gone."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    return (cwd, os.environ.get("HOME", ""), tuple(flags))


class EnvCache:
    """The remembered policies of this hermetic environment."""

    def __init__(self, root: str | None = None) -> None:
        """Locate the file for this interpreter and ``sys.path`` (nothing is read yet)."""
        self.key = (FORMAT, sys.executable, sys.version, tuple(sys.path))
        self.path = os.path.join(root or cache_root(), "cli", f"env-{_crc(repr(self.key))}.bin")
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any] | None:
        if self._data is None:
            data = _read(self.path)
            if (
                isinstance(data, dict)
                and data.get("key") == self.key
                and all(signature(p) == sig for p, sig in data.get("stamps", ()))
            ):
                self._data = data
            else:
                self._data = {}
        return self._data or None

    def lookup(self, key: object) -> tuple[str, dict[str, Any]] | None:
        """``(bootstrap directory, policy values)`` remembered for ``key``, if still valid."""
        data = self._load()
        if data is None or key is None:
            return None
        found = data["policies"].get(key)
        if found is None:
            return None
        directory, values = found
        if signature(os.path.join(directory, "sitecustomize.py")) is None:
            return None
        return directory, values

    def store(self, key: object, directory: str, values: dict[str, Any], stamps: Stamps) -> None:
        """Remember ``key``; ``stamps`` are the files and directories the result depends on."""
        if key is None:
            return
        data = self._load()
        policies: dict[Any, Any] = {}
        if data is not None and data.get("stamps") == stamps:
            policies = dict(data["policies"])
        policies.pop(key, None)
        policies[key] = (directory, values)
        while len(policies) > MAX_POLICIES:
            del policies[next(iter(policies))]
        self._data = {"key": self.key, "stamps": stamps, "policies": policies}
        _write(self.path, self._data)


def collect_stamps(packages: list[str]) -> Stamps:
    """Signatures of every ``sys.path`` directory and of the files of ``packages``.

    ``packages`` are top-level import names already imported (``hermetic``, the guards'
    packages, ...); each one's directory tree of ``.py`` files is stamped.
    """
    paths: list[str] = []
    for entry in sys.path:
        paths.append(os.path.abspath(entry or os.curdir))
    for name in dict.fromkeys(packages):
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        if os.path.basename(origin).startswith("__init__."):
            for directory, dirs, files in os.walk(os.path.dirname(origin)):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                paths.append(directory)
                paths.extend(os.path.join(directory, f) for f in sorted(files) if f.endswith(".py"))
        else:
            paths.append(origin)
    return tuple((p, signature(p)) for p in dict.fromkeys(paths))


def interpreter_facts(real_path: str) -> tuple[str, int, int] | None:
    """``(implementation, major, minor)`` remembered for an interpreter binary, if valid."""
    data = _read(_interpreter_file(real_path))
    if (
        isinstance(data, tuple)
        and len(data) == 3
        and data[0] == real_path
        and data[1] == signature(real_path)
    ):
        facts: tuple[str, int, int] = data[2]
        return facts
    return None


def store_interpreter_facts(real_path: str, facts: tuple[str, int, int]) -> None:
    """Remember what the interpreter binary at ``real_path`` is."""
    _write(_interpreter_file(real_path), (real_path, signature(real_path), facts))


def _interpreter_file(real_path: str) -> str:
    return os.path.join(cache_root(), "cli", f"python-{_crc(real_path)}.bin")


__all__ = [
    "EnvCache",
    "cache_root",
    "collect_stamps",
    "interpreter_facts",
    "policy_key",
    "signature",
    "store_interpreter_facts",
]
