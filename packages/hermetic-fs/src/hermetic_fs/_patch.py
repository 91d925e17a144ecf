"""The filesystem guard's patch module: the one implementation, standard library only.

hermetic imports this module in-process and executes its source inside the bootstrap of a
foreign interpreter, so it never imports hermetic or hermetic_fs.

Two layers. The audit layer sees every filesystem event CPython raises (``open`` with its
flags, the ``os.remove``/``rename``/``mkdir``/``chmod``... family, listings, ``glob``,
``sqlite3.connect``), captured references and C callers included. Patches cover what the
events cannot decide: ``os.open`` (its event carries no ``dir_fd``), ``os.mkfifo`` and
``os.mknod`` (no event at all), and the import system, whose tolerance a
``PolicyViolation`` (not an ``OSError``) would defeat: a refused ``.pyc`` write is skipped
as an unwritable ``__pycache__`` would be, and under a root a ``sys.path`` directory outside
it lists as empty. For the same reason ``linecache`` gets a ``PermissionError`` for a file
outside the root, so a traceback loses only its source line.

Every check resolves the path (``realpath``, against ``dir_fd`` when one is given) at the
moment of the call, so ``..``, symlinks and relative paths cannot step outside. What happens
between that check and the system call (a path swapped for a symlink) is not seen: see the
guard's documentation.
"""

from __future__ import annotations

import _thread
import errno
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import FrameType
    from typing import Any, Callable, Union

    Tree = tuple[frozenset[str], tuple[str, ...]]
    # What was attempted, for the message: text, or a function that makes it (only
    # called when refusing, so the hot path formats nothing).
    What = Union[str, Callable[[], str]]

#: An open is a write when it asks for any of these (``os.open`` tells nothing else).
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_FLAG_NAMES = (
    ("O_WRONLY", os.O_WRONLY),
    ("O_RDWR", os.O_RDWR),
    ("O_CREAT", os.O_CREAT),
    ("O_EXCL", os.O_EXCL),
    ("O_TRUNC", os.O_TRUNC),
    ("O_APPEND", os.O_APPEND),
)
#: Devices that hold no files: writing to them changes nothing on disk.
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty")
#: Readable under a root as well: they reveal no file's contents.
_ENTROPY = ("/dev/random", "/dev/urandom")
#: How ``/proc/self/fd`` names descriptors that are not files.
_PSEUDO = ("pipe:[", "socket:[", "anon_inode:")

_WRITE_REASON = "filesystem is read-only"
_WRITE_HINT = "allow a directory with --allow-write DIR or allow_write=[...]"
_READ_HINT = (
    "outside the root; choose a root that contains it with --fs-readonly=DIR or fs_root=DIR"
)
_NO_DIR_FD = (
    "os.open was reached around the guard's patch (a reference taken before the guard, or "
    "another copy of the function), and its audit event carries no dir_fd, so a relative "
    "path cannot be resolved; call os.open through the os module or pass an absolute path"
)

# event -> (how many leading arguments the message shows, checks). A check is (index of
# the path argument, index of its dir_fd argument or None, acts on the entry itself).
# Entry operations (remove, rename, mkdir, ...) change the directory entry, not what a
# symlink there points to: their parent is resolved and the last component kept.
_WRITE_EVENTS = {
    "os.remove": (1, ((0, 1, True),)),
    "os.rmdir": (1, ((0, 1, True),)),
    "os.mkdir": (1, ((0, 2, True),)),
    "os.rename": (2, ((0, 2, True), (1, 3, True))),
    "os.link": (2, ((0, 2, False), (1, 3, True))),
    "os.symlink": (2, ((1, 2, True),)),
    "os.chmod": (1, ((0, 2, False),)),
    "os.chown": (1, ((0, 3, False),)),
    "os.chflags": (1, ((0, None, False),)),
    "os.utime": (1, ((0, 3, False),)),
    "os.truncate": (1, ((0, None, False),)),
    "os.setxattr": (1, ((0, None, False),)),
    "os.removexattr": (1, ((0, None, False),)),
    "shutil.rmtree": (1, ((0, 1, True),)),
    "tempfile.mkstemp": (1, ((0, None, True),)),
    "tempfile.mkdtemp": (1, ((0, None, True),)),
}
# Read events checked under a root: event -> (path argument index, dir_fd index or None).
_READ_EVENTS = {
    "os.listdir": (0, None),
    "os.scandir": (0, None),
    "os.walk": (0, None),
    "os.fwalk": (0, 4),
    "os.listxattr": (0, None),
    "os.getxattr": (0, None),
}
#: Functions that raise no audit event at all; they get a patch (and only that).
_UNAUDITED = ("mkfifo", "mknod")


def _text(path: Any) -> str:
    """A path argument as ``str`` (``None`` is the current directory, as for scandir)."""
    if isinstance(path, str):
        return path
    if path is None:
        return "."
    return os.fsdecode(os.fspath(path))


def _fd_target(fd: int) -> str | None:
    """What the kernel says descriptor ``fd`` is open on, or None if it cannot tell."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except (OSError, ValueError, OverflowError):
        pass
    try:  # macOS has no /proc; it answers F_GETPATH instead
        import fcntl

        raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))  # type: ignore[attr-defined,unused-ignore]
        return os.fsdecode(raw.rstrip(b"\0"))
    except (ImportError, AttributeError, OSError, ValueError, OverflowError):
        return None


def _resolve(path: Any, dir_fd: Any = None, entry: bool = False) -> str | None:
    """The real path an operation on ``path`` reaches, or None when it cannot be known."""
    if isinstance(path, int):
        return _fd_target(path)
    text = _text(path)
    if dir_fd is not None and dir_fd != -1 and not text.startswith("/"):
        base = _fd_target(dir_fd)
        if base is None or not base.startswith("/"):
            return None
        text = os.path.join(base, text)
    if entry:
        head, tail = os.path.split(text)
        if tail and tail != "." and tail != "..":
            return os.path.join(os.path.realpath(head or "."), tail)
    return os.path.realpath(text)


def _not_a_file(resolved: str) -> bool:
    """True for pipes, sockets, terminals and null devices: no file is behind them."""
    if not resolved.startswith("/"):
        return True  # "pipe:[123]" from /proc/self/fd
    if resolved in _DEVICES or resolved.startswith(("/dev/pts/", "/memfd:")):
        return True
    # /dev/stdout or /proc/self/fd/1 on a pipe resolve to /proc/<pid>/fd/pipe:[123]
    head, _, tail = resolved.rpartition("/")
    return resolved.startswith("/proc/") and head.endswith("/fd") and tail.startswith(_PSEUDO)


def _tree(paths: Iterable[str]) -> Tree:
    """``(exact, prefixes)`` matching each path and everything under it."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return frozenset(kept), tuple(k.rstrip("/") + "/" for k in kept)


def _within(resolved: str, tree: Tree) -> bool:
    return resolved in tree[0] or resolved.startswith(tree[1])


def _main_directory() -> tuple[str, ...]:
    """The directory Python puts first on ``sys.path`` for the program it runs.

    The bootstrap installs the guard before the interpreter adds that entry, so it is
    derived from ``sys.argv`` as the interpreter derives it.
    """
    if getattr(sys.flags, "safe_path", False):
        return ()
    argv0 = sys.argv[0] if getattr(sys, "argv", None) else ""
    if argv0 in ("", "-c", "-m"):
        return (os.getcwd(),)
    return (os.path.dirname(os.path.abspath(argv0)), os.path.dirname(os.path.realpath(argv0)))


def interpreter_paths() -> set[str]:
    """What stays readable under a root for the interpreter's own needs (real paths).

    Every ``sys.path`` entry (the standard library, ``lib-dynload``, site-packages, .pth
    additions), the directory of the program being run, ``site.getsitepackages()``, the
    standard library's directory, gettext's default locale directories and the Python
    executables. ``/`` is never included: it would make the root meaningless.
    """
    paths = [p for p in sys.path if isinstance(p, str)]
    stdlib = getattr(os, "__file__", None)  # absent only in unusual embedded builds
    if stdlib:
        paths.append(os.path.dirname(stdlib))
    site = sys.modules.get("site")
    try:
        paths.extend(site.getsitepackages())  # type: ignore[union-attr]
    except Exception:
        pass  # no site module (python -S), or one without getsitepackages
    paths.extend(_main_directory())
    for prefix in (sys.prefix, sys.base_prefix):
        paths.append(os.path.join(prefix, "share", "locale"))  # gettext's default
    paths.extend(p for p in (sys.executable, getattr(sys, "_base_executable", None)) if p)
    real = {os.path.realpath(p or ".") for p in paths}
    real.discard("/")
    return real


def _for_source_lines() -> bool:
    """Whether linecache (tracebacks, ``inspect.getsource``) is the one reading.

    Only called on the way to refusing a read, never on the hot path.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(12):
        if frame is None:
            return False
        if frame.f_globals.get("__name__") == "linecache":
            return True
        frame = frame.f_back
    return False


def _glob_base(pattern: Any) -> str:
    """The directory a glob pattern lists first: its leading components without magic."""
    text = _text(pattern)
    lead = []
    for part in text.split("/")[:-1]:
        if "*" in part or "?" in part or "[" in part:
            break
        lead.append(part)
    base = "/".join(lead)
    if not base and text.startswith("/"):
        return "/"
    return base or "."


def _unquote(text: str) -> str:
    """Decode ``%HH`` escapes the way SQLite does for a URI's path."""
    if "%" not in text:
        return text
    head, *parts = text.split("%")
    out = bytearray(head.encode("utf-8", "surrogateescape"))
    for part in parts:
        if len(part) >= 2 and all(c in "0123456789abcdefABCDEF" for c in part[:2]):
            out.append(int(part[:2], 16))
            part = part[2:]
        else:
            out += b"%"
        out += part.encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def _flags_text(flags: int) -> str:
    names = [name for name, bit in _FLAG_NAMES if flags & bit]
    if not flags & (os.O_WRONLY | os.O_RDWR):
        names.insert(0, "O_RDONLY")
    return "|".join(names)


def _described(what: What) -> str:
    return what if isinstance(what, str) else what()


def _shown(path: Any) -> str:
    return f"fd {path}" if isinstance(path, int) else repr(_text(path))


def _mode_writes(mode: Any) -> bool:
    return isinstance(mode, str) and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)


def install(options: dict[str, Any], runtime: Any) -> None:
    """Make the filesystem read-only (and, with ``fs_root``, confine reads) for this layer."""
    root: str | None = options.get("fs_root")
    allowed = tuple(options.get("allow_write") or ())
    if root is not None and not os.path.isdir(root):
        raise ValueError(f"the root {root!r} is not an existing directory")
    writable_tree = _tree(allowed)
    readable_tree = _tree((root, *allowed, *interpreter_paths(), *_ENTROPY)) if root else None
    read_reason = f"filesystem reads are confined to {root}"
    write_flags = _WRITE_FLAGS
    # The os.open patch resolves dir_fd itself, then marks the call it checked, so that the
    # audit handler (which cannot see dir_fd) does not judge it again. Per thread.
    vouched = _thread._local()

    def writable(resolved: str) -> bool:
        return _within(resolved, writable_tree) or _not_a_file(resolved)

    def readable(resolved: str) -> bool:
        assert readable_tree is not None
        return _within(resolved, readable_tree) or _not_a_file(resolved)

    def unresolved(what: What, path: Any, dir_fd: Any, reason: str) -> None:
        if isinstance(path, int):
            target, unknown = f"fd {path}", f"descriptor {path}"
        else:
            target, unknown = _text(path), f"dir_fd {dir_fd}"
        runtime.deny(
            _described(what),
            target,
            reason=reason,
            hint=f"cannot tell which file {unknown} refers to, so it is refused",
        )

    def check_write(what: What, path: Any, dir_fd: Any = None, entry: bool = False) -> None:
        resolved = _resolve(path, dir_fd, entry)
        if resolved is None:
            unresolved(what, path, dir_fd, _WRITE_REASON)
        elif not writable(resolved):
            runtime.deny(_described(what), resolved, reason=_WRITE_REASON, hint=_WRITE_HINT)

    def check_read(what: What, path: Any, dir_fd: Any = None, opening: bool = False) -> None:
        resolved = _resolve(path, dir_fd)
        if resolved is None:
            unresolved(what, path, dir_fd, read_reason)
        elif not readable(resolved):
            if opening and os.path.isdir(resolved):
                # A descriptor on a directory shows nothing by itself (os.fwalk opens each
                # subdirectory, symlinks too, before it skips them): listing it or opening
                # through it as dir_fd is checked on its own.
                return
            refusal = runtime.violation(
                _described(what), resolved, reason=read_reason, hint=_READ_HINT
            )
            if _for_source_lines():
                # linecache skips a file it cannot read (OSError): a traceback through
                # code from outside the root then shows no source line instead of failing.
                raise PermissionError(errno.EACCES, str(refusal), resolved)
            raise refusal

    # -- open: the hot path ------------------------------------------------------------
    def opened(path: Any, mode: Any, flags: int, dir_fd: Any = None, patch: bool = False) -> None:
        if isinstance(path, int):
            return  # wrapping a descriptor that is already open opens nothing
        # _Py_fopen_obj (the script being run, for one) reports flags 0 and a mode string.
        writes = flags & write_flags or (not flags and _mode_writes(mode))
        if not writes and root is None:
            return
        what: Callable[[], str]
        if mode is None:
            what = lambda: f"os.open({_shown(path)}, {_flags_text(flags)})"  # noqa: E731
            if not patch:
                if getattr(vouched, "path", None) == _text(path):
                    return  # the os.open patch checked this very call, dir_fd included
                if not _text(path).startswith("/"):
                    reason = _WRITE_REASON if writes else read_reason
                    runtime.deny(what(), _text(path), reason=reason, hint=_NO_DIR_FD)
        else:
            what = lambda: f"open({_shown(path)}, {mode!r})"  # noqa: E731
        if writes:
            check_write(what, path, dir_fd)
        else:
            check_read(what, path, dir_fd, opening=True)

    on_open: Callable[[str, tuple[Any, ...]], None]
    if root is None:

        def on_open(_event: str, args: tuple[Any, ...]) -> None:
            # Runs for every open in the process: a read costs one flag test.
            flags = args[2]
            if flags & write_flags or not flags:
                opened(*args)

    else:

        def on_open(_event: str, args: tuple[Any, ...]) -> None:
            opened(*args)

    runtime.on_audit("open", on_open)

    # -- the os.* write family, shutil and tempfile ------------------------------------
    def on_write_event(event: str, args: tuple[Any, ...]) -> None:
        count, checks = _WRITE_EVENTS[event]
        what = lambda: f"{event}({', '.join(_shown(a) for a in args[:count])})"  # noqa: E731
        for index, fd_index, entry in checks:
            dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
            if event == "os.mkdir" and os.path.lexists(_resolve(args[index], dir_fd, True) or ""):
                continue  # it fails with FileExistsError and changes nothing (makedirs)
            check_write(what, args[index], dir_fd, entry)

    for event in _WRITE_EVENTS:
        runtime.on_audit(event, on_write_event)

    def on_sqlite(_event: str, args: tuple[Any, ...]) -> None:
        name = _text(args[0])
        if name in ("", ":memory:"):
            return
        what = f"sqlite3.connect({name!r})"
        if not name.startswith("file:"):
            check_write(what, name)
            return
        # Taken as a URI (connect(..., uri=True)); the event does not say whether it was.
        path, _, query = name[5:].partition("?")
        params = query.split("&")
        if path.startswith("//"):
            authority, _, rest = path[2:].partition("/")
            if authority not in ("", "localhost"):
                runtime.deny(what, name, reason=_WRITE_REASON, hint="a URI with a host")
            path = "/" + rest
        path = _unquote(path)
        if path in ("", ":memory:") or "mode=memory" in params:
            return
        if "mode=ro" not in params:
            check_write(what, path)
        elif root is not None:
            check_read(what, path)

    runtime.on_audit("sqlite3.connect", on_sqlite)

    # -- reads under a root ------------------------------------------------------------
    if root is not None:

        def on_read_event(event: str, args: tuple[Any, ...]) -> None:
            index, fd_index = _READ_EVENTS[event]
            dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
            check_read(lambda: f"{event}({_shown(args[index])})", args[index], dir_fd)

        for event in _READ_EVENTS:
            runtime.on_audit(event, on_read_event)

        def on_glob(event: str, args: tuple[Any, ...]) -> None:
            dir_fd = None
            if event.startswith("pathlib"):  # (self, pattern)
                pattern = args[1]
                base = os.path.join(_text(args[0]), _glob_base(pattern))
            else:
                pattern = args[0]
                base = _glob_base(pattern)
                if event == "glob.glob/2":  # (pattern, recursive, root_dir, dir_fd)
                    root_dir, dir_fd = args[2], args[3]
                    if root_dir is not None and not base.startswith("/"):
                        base = os.path.join(_text(root_dir), base)
            name = event.partition("/")[0]
            check_read(lambda: f"{name}({_shown(pattern)})", base, dir_fd)

        # 3.10+ raise glob.glob/2 (which has root_dir and dir_fd) right after glob.glob.
        runtime.on_audit("glob.glob/2" if sys.version_info >= (3, 10) else "glob.glob", on_glob)
        runtime.on_audit("pathlib.Path.glob", on_glob)
        runtime.on_audit("pathlib.Path.rglob", on_glob)

    # -- patches: what the audit events cannot decide ----------------------------------
    def os_open(original: Callable[..., int], *args: Any, **kwargs: Any) -> int:
        path = args[0] if args else kwargs.get("path")
        flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
        if isinstance(flags, int) and not isinstance(path, int):
            opened(path, None, flags, kwargs.get("dir_fd"), patch=True)
        outer = getattr(vouched, "path", None)
        # The event carries the path after os.fspath(): compare text, not identity.
        vouched.path = None if isinstance(path, int) else _text(path)
        try:
            return original(*args, **kwargs)
        finally:
            vouched.path = outer

    posix = sys.modules.get(os.name)
    if sys.version_info < (3, 10):
        # Python 3.9's pathlib keeps os.open as a class attribute of _NormalAccessor, taken
        # when pathlib is first imported: import it before os.open is patched, so it holds
        # the real function, and patch it as well so that pathlib's opens are vouched for.
        import pathlib

        def accessor_open(original: Callable[..., int], _accessor: Any, *a: Any, **k: Any) -> int:
            return os_open(original, *a, **k)  # called as a method: drop the accessor

        runtime.wrap(pathlib._NormalAccessor, "open", accessor_open)  # type: ignore[attr-defined]
    # The import system writes bytecode through posix.open; everything else uses os.open.
    for owner in (os, posix):
        if owner is not None:
            runtime.wrap(owner, "open", os_open)

    def unaudited(name: str) -> Callable[..., None]:
        def check(*args: Any, **kwargs: Any) -> None:
            path = args[0] if args else kwargs.get("path")
            check_write(f"os.{name}({_shown(path)})", path, kwargs.get("dir_fd"), True)

        return check

    for name in _UNAUDITED:
        for owner in (os, posix):
            if owner is not None and hasattr(owner, name):
                runtime.check_before(owner, name, unaudited(name))

    external = sys.modules.get("_frozen_importlib_external")
    loader = getattr(external, "SourceFileLoader", None)
    if loader is not None:

        def set_data(
            original: Callable[..., Any], self: Any, path: str, *rest: Any, **kw: Any
        ) -> Any:
            resolved = _resolve(path, entry=True)
            if resolved is not None and writable(resolved):
                return original(self, path, *rest, **kw)
            # What set_data does itself when __pycache__ cannot be written: skip the cache
            # (and create no directory for it).
            return None

        runtime.wrap(loader, "set_data", set_data)

    finder = getattr(external, "FileFinder", None)
    if root is not None and finder is not None:

        def fill_cache(original: Callable[..., Any], self: Any) -> Any:
            where = _resolve(self.path or os.getcwd())
            if where is None or readable(where):
                return original(self)
            # A sys.path directory outside the root (the working directory after a chdir,
            # for "python -c"): list it as empty, as the finder does for one it may not
            # read, so the next sys.path entries are searched instead of every import
            # failing.
            self._path_cache = set()
            self._relaxed_path_cache = set()
            return None

        runtime.wrap(finder, "_fill_cache", fill_cache)
