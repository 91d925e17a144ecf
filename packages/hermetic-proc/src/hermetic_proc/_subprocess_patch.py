"""The subprocess guard's one implementation: standard library only, never imports hermetic.

hermetic imports this module in-process and executes its source inside the bootstrap of a
foreign interpreter. ``install(options, runtime)`` builds two layers around one
:class:`Commands` object made for that install (no state lives in module globals):

* audit handlers on the events CPython raises before a program is started or the process
  forks: ``subprocess.Popen`` (every ``Popen``, whatever reference the program holds, and so
  ``run``, ``check_output``, ``os.popen`` and asyncio subprocesses), ``os.system``,
  ``os.exec``, ``os.posix_spawn``, ``os.fork``, ``os.forkpty`` and ``pty.spawn``; plus
  ``ctypes.dlsym`` for the C functions that start processes, and ``import`` of a fresh copy
  of ``_posixsubprocess``.
* patches on what no event covers and where a patch says more: ``_posixsubprocess.fork_exec``
  (called directly by ``multiprocessing``'s spawn and forkserver start methods and its
  resource tracker, it raises no event) and its alias ``subprocess._fork_exec``; the
  ``os.spawn*`` functions, which fork and exec in Python (refused as the command they run,
  not as a bare fork); and ``os.system``, ``os.exec[v]e``, ``os.posix_spawn[p]``,
  ``os.fork`` and ``os.forkpty`` themselves.

An allowed command is matched on the real path of the file that would run, looked up the
way the spawn looks it up (``PATH`` of the environment given to it, relative paths against
the child's working directory). Where the spawn would itself try several files in turn
(``_posixsubprocess``, ``posix_spawnp``) the patch hands it only the one it checked. A
command that names no file fails as it would without the guard, with ``FileNotFoundError``,
before anything starts.

A refused ``exec`` in a process forked after the guard was installed ends that process
with status 126 instead of raising: the code after a failed exec in a fork child is the
parent's program, which must not run twice.

What no layer sees is documented in docs/guards/subprocess.md: ``_posixsubprocess.fork_exec``
reached through a reference to the original, C code that forks or execs by itself, and raw
system calls.
"""

from __future__ import annotations

import _posixsubprocess
import _thread
import errno
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, Callable, NoReturn

REASON = "subprocess disabled"
#: What ``os.system``, ``os.popen`` and ``shell=True`` run.
SHELL = "/bin/sh"
#: Programs whose job is to run other commands: allowing one allows every command.
SHELLS = frozenset(
    ["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox"]
)
#: Exit status of a fork child whose exec was refused (the shell's "cannot execute").
CHILD_EXIT = 126

#: Standard-library functions that run a tool to learn something and treat an ``OSError``
#: as "this tool is not there" (module ``__name__``, function name). Refused there, a
#: command raises ``PermissionError`` instead of ``PolicyViolation``, so that they answer
#: as on a system without the tool rather than fail (the violation is still traced).
PROBES = frozenset(
    [
        ("platform", "_syscmd_file"),  # architecture(): file -b
        ("platform", "from_subprocess"),  # uname().processor, processor(), platform(): uname -p
        ("platform", "_syscmd_ver"),  # Windows' ver
        ("ctypes.util", "_findSoname_ldconfig"),  # find_library(): ldconfig -p
        ("ctypes.util", "_findLib_gcc"),  # find_library(): cc -Wl,-t
        ("ctypes.util", "_findLib_ld"),  # find_library(): ld -t
        ("ctypes.util", "_get_soname"),  # find_library(): objdump, dump
        ("ctypes.util", "_findLib_crle"),  # find_library() on Solaris
        ("ctypes.util", "find_library"),  # the BSD and Solaris variants
        ("uuid", "_get_command_stdout"),  # getnode() fallbacks: ip, ifconfig, arp, netstat
        ("webbrowser", "register_standard_browsers"),  # xdg-settings
    ]
)

#: C functions that start a program or fork, refused when ctypes looks them up.
C_FUNCTIONS = frozenset(
    [
        "fork",
        "vfork",
        "_Fork",
        "__fork",
        "forkpty",
        "clone",
        "clone3",
        "__clone",
        "system",
        "__libc_system",
        "popen",
        "execv",
        "execve",
        "execvp",
        "execvpe",
        "execl",
        "execle",
        "execlp",
        "fexecve",
        "execveat",
        "posix_spawn",
        "posix_spawnp",
    ]
)

#: What a refused fork says it was, by the audit event it raises.
FORKS = {"os.fork": "fork this process", "os.forkpty": "fork this process with a pseudo-terminal"}

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")
_SHOWN = 200  # characters of a command line in a message (the target holds all of it)


def text(value: Any) -> str | None:
    """A path or argument as ``str`` (``os.fspath``, ``bytes`` decoded), else ``None``."""
    try:
        value = os.fspath(value)
    except TypeError:
        return None
    return os.fsdecode(value) if isinstance(value, bytes) else value


def quote(arg: str) -> str:
    """``arg`` as a shell would need it written (control characters escaped)."""
    if not arg.isprintable():
        arg = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in arg)
    if arg and _SAFE.issuperset(arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def command_line(program: str, argv: Any) -> str:
    """The program that would run followed by its arguments (``argv[1:]``), quoted."""
    if isinstance(argv, (str, bytes)) or argv is None:
        rest: list[Any] = []
    else:
        try:
            rest = list(argv)[1:]
        except TypeError:
            rest = []
    words = [program] + [text(a) if text(a) is not None else repr(a) for a in rest]
    return " ".join(quote(str(w)) for w in words)


def candidates(name: str, env: Any = None) -> list[str]:
    """Where ``execvp`` and ``subprocess`` look for ``name``.

    ``name`` itself if it has a ``/``, else ``name`` in each directory of the ``PATH`` of
    ``env`` (of ``os.environ`` when ``env`` is ``None``).
    """
    if "/" in name:
        return [name]
    return [os.path.join(directory, name) for directory in os.get_exec_path(env)]


def base_dir(cwd: Any = None) -> str:
    """The directory relative paths are taken from: the child's ``cwd`` if given."""
    try:
        here = os.getcwd()
    except OSError:
        here = ""  # a deleted working directory: relative paths then name nothing
    given = None if cwd is None else text(cwd)
    return here if given is None else os.path.join(here, given)


def pick(paths: Iterable[str], base: str) -> tuple[str | None, bool]:
    """``(path, runnable)``: the first of ``paths`` that is an executable regular file.

    Else the first that exists (``runnable`` False), else ``(None, False)``. Relative paths
    are taken from ``base``.
    """
    existing = None
    for path in paths:
        full = os.path.join(base, path)
        try:
            mode = os.stat(full).st_mode
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(mode) and os.access(full, os.X_OK):
            return full, True
        if existing is None:
            existing = full
    return existing, False


def resolve_entry(entry: str) -> str | None:
    """The real path an ``allow_commands`` entry allows, or ``None`` if it names nothing.

    A path is taken as it is; a name is looked up on ``PATH`` now, as ``execvp`` would.
    """
    if "/" in entry:
        return os.path.realpath(entry)
    try:
        found, runnable = pick(candidates(entry), base_dir())
    except (ValueError, TypeError):
        return None
    return os.path.realpath(found) if found and runnable else None


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def probe_caller() -> bool:
    """Whether a function of :data:`PROBES` is among the callers."""
    try:
        frame: Any = sys._getframe(2)
    except ValueError:
        return False
    for _ in range(16):
        if frame is None:
            return False
        if (frame.f_globals.get("__name__"), frame.f_code.co_name) in PROBES:
            return True
        frame = frame.f_back
    return False


def called_from(module: str, function: str, depth: int = 6) -> bool:
    """Whether ``module.function`` is one of the nearest ``depth`` callers."""
    frame: Any = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name == function and frame.f_globals.get("__name__") == module:
            return True
        frame = frame.f_back
    return False


class Commands:
    """One install's policy: which programs may run, and the checks every layer shares."""

    def __init__(self, options: dict[str, Any], runtime: Any) -> None:
        """Resolve the ``allow_commands`` entries now, on this process's ``PATH``."""
        self.runtime = runtime
        self.entries = tuple(options.get("allow_commands") or ())
        self.allowed = frozenset(r for r in map(resolve_entry, self.entries) if r)
        # A refused exec in any other process ends it (see refuse). The pid tells a fork
        # child apart with no at-fork hook (those cannot be unregistered, and a fork made
        # behind the guard's back, such as the raw system call, runs none of them).
        self.pid = os.getpid()
        # fork_ok: one fork this thread may make, vouched for by the check of the command
        # it is about to exec (os.spawn*, pty.spawn). Set by the layer that checked it and
        # consumed by the os.fork / os.forkpty audit event.
        self.local = _thread._local()

    # -- programs ------------------------------------------------------------------------
    def program(
        self, verb: str, paths: Sequence[str], base: str, argv: Any, name: str | None
    ) -> str:
        """Check starting one program; return the path that may run, or raise.

        ``paths`` are the files the spawn would try, in order. No file: the
        ``FileNotFoundError`` the spawn would raise; no executable file:
        ``PermissionError``; otherwise it is allowed or refused by its real path.
        """
        if name is None:
            self.refuse(verb, repr(argv), argv, "not a path the guard can check")
        if "\0" in name:
            raise ValueError("embedded null byte")
        path, runnable = pick(paths, base)
        if path is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if not runnable:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        if os.path.realpath(path) in self.allowed:
            return path
        self.refuse(verb, path, argv)

    def refuse(self, verb: str, path: str, argv: Any, hint: str | None = None) -> NoReturn:
        """Raise the violation for running ``path`` with ``argv`` (see the module docs)."""
        line = command_line(path, argv)
        shown = line if len(line) <= _SHOWN else line[: _SHOWN - 3] + "..."
        exc = self.runtime.violation(
            f"{verb} {shown}", line, reason=REASON, hint=hint or self.hint(path)
        )
        if verb == "exec" and os.getpid() != self.pid:
            self.end_child(exc)
        if probe_caller():
            raise PermissionError(errno.EPERM, str(exc)) from exc
        raise exc

    def end_child(self, exc: BaseException) -> NoReturn:
        """End a fork child whose exec was refused, saying why on its stderr."""
        note = f"hermetic: {exc}; the forked child exits with status {CHILD_EXIT}\n"
        try:
            os.write(2, note.encode("utf-8", "backslashreplace"))
        finally:
            os._exit(CHILD_EXIT)

    def hint(self, path: str) -> str:
        """How to allow ``path``: by name if the name finds the same file, else by path."""
        real = os.path.realpath(path)
        name = os.path.basename(path)
        try:
            found, runnable = pick(candidates(name), base_dir())
        except (ValueError, TypeError):
            found, runnable = None, False
        same = bool(found) and runnable and os.path.realpath(found or "") == real
        entry = name if same else os.path.abspath(path)
        advice = f"use --allow-command {quote(entry)} or allow_commands=[{entry!r}]"
        # The shell is resolved here, for a message, not at install (its realpath is most
        # of an install's cost).
        if name in SHELLS or real == os.path.realpath(SHELL):
            advice += "; allowing a shell allows every command it runs"
        return advice

    def popen(self, executable: Any, argv: Any, cwd: Any, env: Any) -> str:
        """Check what ``subprocess.Popen`` would run (``executable`` is already chosen)."""
        name = text(executable)
        paths = candidates(name, env) if name is not None else []
        return self.program("run", paths, base_dir(cwd), argv, name)

    def execute(self, path: Any, argv: Any) -> str:
        """Check an ``exec`` of ``path`` (a path, or an fd for ``fexecve``)."""
        name = _fd_path(path) if isinstance(path, int) else text(path)
        return self.program("exec", [name] if name is not None else [], base_dir(), argv, name)

    def system(self, command: Any) -> None:
        """Check ``os.system(command)``: the shell runs it."""
        shown = text(command)
        self.program("run", [SHELL], "/", [SHELL, "-c", shown or repr(command)], SHELL)

    def forking(self, what: str) -> None:
        """Refuse a fork unless the check of the command it will exec vouched for it."""
        if getattr(self.local, "fork_ok", False):
            return
        self.runtime.deny(
            what,
            "fork",
            reason=REASON,
            hint="a fork cannot be allowed, only commands; threads keep working: threading, "
            "concurrent.futures.ThreadPoolExecutor, multiprocessing.dummy",
        )

    # -- audit handlers --------------------------------------------------------------------
    def on_popen(self, _event: str, args: tuple[Any, ...]) -> None:
        """``subprocess.Popen(executable, args, cwd, env)``."""
        self.popen(*args[:4])

    def on_system(self, _event: str, args: tuple[Any, ...]) -> None:
        """``os.system(command)``."""
        self.system(args[0])

    def on_exec(self, _event: str, args: tuple[Any, ...]) -> None:
        """``os.exec(path, args, env)``: every ``os.exec*``."""
        self.execute(args[0], args[1])

    def on_posix_spawn(self, _event: str, args: tuple[Any, ...]) -> None:
        """``os.posix_spawn(path, argv, env)``, raised by ``posix_spawn`` and ``posix_spawnp``.

        The event does not say which: a name without ``/`` must pass both readings.
        """
        name = text(args[0])
        if name is None or "/" in name:
            self.program("run", [name] if name else [], base_dir(), args[1], name)
            return
        found = False
        for paths in ([name], candidates(name)):
            try:
                self.program("run", paths, base_dir(), args[1], name)
                found = True
            except FileNotFoundError:
                pass
        if not found:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)

    def on_fork(self, event: str, _args: tuple[Any, ...]) -> None:
        """``os.fork()`` and ``os.forkpty()``: consume the vouch, or refuse."""
        if getattr(self.local, "fork_ok", False):
            self.local.fork_ok = False
            return
        self.forking(FORKS.get(event, "fork this process"))

    def on_pty_spawn(self, _event: str, args: tuple[Any, ...]) -> None:
        """``pty.spawn(argv)``: check the command its child will exec, vouch for its fork."""
        argv = args[0]
        first = argv if isinstance(argv, (str, bytes, os.PathLike)) else (list(argv) or [None])[0]
        name = text(first)
        paths = candidates(name) if name is not None else []
        self.program("run", paths, base_dir(), argv, name)
        if called_from("pty", "spawn"):
            self.local.fork_ok = True

    def on_dlsym(self, _event: str, args: tuple[Any, ...]) -> None:
        """``ctypes.dlsym(library, name)`` and ``ctypes.dlsym/handle(handle, name)``."""
        symbol = args[1]
        if isinstance(symbol, bytes):
            symbol = symbol.decode("ascii", "replace")
        if symbol in C_FUNCTIONS:
            self.runtime.deny(
                f"look up {symbol}() through ctypes",
                symbol,
                reason=REASON,
                hint="C functions that start programs or fork are refused under "
                "block_subprocess; allow_commands cannot allow them",
            )

    def on_import(self, _event: str, args: tuple[Any, ...]) -> None:
        """``import(name, ...)``: a new copy of ``_posixsubprocess`` would be unpatched."""
        name = args[0]
        if type(name) is str and (name == "_posixsubprocess" or name.endswith("._posixsubprocess")):
            self.runtime.deny(
                "load a new copy of _posixsubprocess",
                "_posixsubprocess",
                reason=REASON,
                hint="its fork_exec starts programs without an audit event; the copy "
                "already loaded is the guarded one",
            )

    # -- patches ---------------------------------------------------------------------------
    def before_system(self, command: Any = None, *_args: Any, **_kwargs: Any) -> None:
        """Before ``os.system``."""
        self.system(command)

    def before_exec(self, path: Any = None, argv: Any = None, *_args: Any, **_kw: Any) -> None:
        """Before ``os.execv`` and ``os.execve`` (every ``os.exec*`` goes through them)."""
        self.execute(path, argv)

    def before_fork(self, *_args: Any, **_kwargs: Any) -> None:
        """Before ``os.fork``."""
        self.forking(FORKS["os.fork"])

    def before_forkpty(self, *_args: Any, **_kwargs: Any) -> None:
        """Before ``os.forkpty`` (``pty.fork``)."""
        self.forking(FORKS["os.forkpty"])

    def posix_spawn(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``os.posix_spawn(path, argv, env, ...)``: ``path`` relative to the cwd."""
        name = text(args[0]) if args else None
        argv = args[1] if len(args) > 1 else None
        self.program("run", [name] if name is not None else [], base_dir(), argv, name)
        return original(*args, **kwargs)

    def posix_spawnp(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``os.posix_spawnp(file, argv, env, ...)``: run exactly the file that was checked."""
        name = text(args[0]) if args else None
        paths = candidates(name) if name is not None else []
        argv = args[1] if len(args) > 1 else None
        path = self.program("run", paths, base_dir(), argv, name)
        return original(path, *args[1:], **kwargs)

    def fork_exec(self, original: Callable[..., Any], *args: Any) -> Any:
        """``_posixsubprocess.fork_exec(args, executable_list, close_fds, fds, cwd, ...)``.

        The child tries each executable in turn; it is given only the one checked here.
        """
        argv = args[0] if args else None
        listed = list(args[1]) if len(args) > 1 and args[1] is not None else []
        names = [text(p) for p in listed]
        usable = [n for n in names if n is not None]
        if len(usable) != len(names) or not usable:
            self.refuse("run", repr(listed), argv, "not a path the guard can check")
        name = usable[0] if len(usable) == 1 else os.path.basename(usable[0])
        path = self.program("run", usable, base_dir(args[4] if len(args) > 4 else None), argv, name)
        return original(argv, (os.fsencode(path),), *args[2:])

    def spawner(self, search: bool, with_env: bool) -> Callable[..., Any]:
        """A wrapper for one ``os.spawnv*``: check the command, then vouch for its fork."""

        def spawn(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            # spawnv(mode, file, args) and spawnve(mode, file, args, env), by position or name
            given = dict(zip(("mode", "file", "args", "env"), args), **kwargs)
            name = text(given.get("file"))
            env = given.get("env") if with_env else None
            paths: list[str] = []
            if name is not None:
                paths = candidates(name, env) if search else [name]
            self.program("run", paths, base_dir(), given.get("args"), name)
            self.local.fork_ok = True
            try:
                return original(*args, **kwargs)
            finally:
                self.local.fork_ok = False

        return spawn


#: (audit event, Commands method) for every handler the guard subscribes.
EVENTS = (
    ("subprocess.Popen", "on_popen"),
    ("os.system", "on_system"),
    ("os.exec", "on_exec"),
    ("os.posix_spawn", "on_posix_spawn"),
    ("os.fork", "on_fork"),
    ("os.forkpty", "on_fork"),
    ("pty.spawn", "on_pty_spawn"),
    ("ctypes.dlsym", "on_dlsym"),
    ("ctypes.dlsym/handle", "on_dlsym"),
    ("import", "on_import"),
)

#: (``os`` function, Commands method) checked before the call.
CHECKED = (
    ("system", "before_system"),
    ("execv", "before_exec"),
    ("execve", "before_exec"),
    ("fork", "before_fork"),
    ("forkpty", "before_forkpty"),
)

#: ``os.spawn*`` functions: (name, searches PATH, takes an env). The ``spawnl*`` forms call
#: these through the module, as ``execl*``/``execvp*`` call ``execv``/``execve``.
SPAWNERS = (
    ("spawnv", False, False),
    ("spawnve", False, True),
    ("spawnvp", True, False),
    ("spawnvpe", True, True),
)


def install(options: dict[str, Any], runtime: Any) -> None:
    """Install one layer of the subprocess guard; ``options`` holds every option it declares."""
    commands = Commands(options, runtime)
    for event, method in EVENTS:
        runtime.on_audit(event, getattr(commands, method))
    for attr, method in CHECKED:
        if hasattr(os, attr):
            runtime.check_before(os, attr, getattr(commands, method))
    for attr in ("posix_spawn", "posix_spawnp"):
        if hasattr(os, attr):
            runtime.wrap(os, attr, getattr(commands, attr))
    for attr, search, with_env in SPAWNERS:
        if hasattr(os, attr):
            runtime.wrap(os, attr, commands.spawner(search, with_env))
    runtime.wrap(_posixsubprocess, "fork_exec", commands.fork_exec)
    # 3.11+ binds the function at import: an already imported subprocess holds its own name
    # for it (a subprocess imported later binds the patched one).
    loaded = sys.modules.get("subprocess")
    if loaded is not None and callable(getattr(loaded, "_fork_exec", None)):
        runtime.wrap(loaded, "_fork_exec", commands.fork_exec)
