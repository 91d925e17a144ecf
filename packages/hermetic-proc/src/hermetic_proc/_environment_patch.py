"""The environment guard's one implementation: standard library only, never imports hermetic.

hermetic imports this module in-process and executes its source inside the bootstrap of a
foreign interpreter. ``install(options, runtime)`` builds two layers:

* patches of the class ``os._Environ``, so every instance is guarded: ``os.environ``,
  ``os.environb`` (which shares its storage), ``posix.environ`` (replaced, while the guard is
  on, by one more instance over the same storage) and any reference to them captured before
  the guard. Reading the environment raises no audit event, so this layer is the only one
  that sees reads. Children get the environment the guard lets them see: the functions that
  start a process without an explicit environment (``_posixsubprocess.fork_exec`` under
  ``subprocess`` and ``multiprocessing``, ``os.execv`` under every ``os.exec*``/``spawn*``
  without ``env``, ``os.posix_spawn(env=None)`` on 3.13) are handed the visible variables.
* audit handlers on what CPython reports in C: ``os.putenv``/``os.unsetenv`` (every write,
  whatever reference made it), ``os.exec``/``os.posix_spawn`` without an environment and
  ``os.system`` (a child that would inherit variables the program may not see), and ``exec``
  of the ``os`` module's code (``importlib.reload(os)`` would replace ``os.environ`` and
  ``os.getenv`` with copies the patches never saw). They keep enforcing in a sealed process
  when the patches are undone.

Who is asking decides the answer. Code of the program (everything that is not the
standard library, pytest's runner or hermetic itself) gets a ``PolicyViolation`` for any
variable outside ``allow_env``, and for listing the environment. Python's own machinery
(the stdlib's ``tempfile``, ``locale``, ``shutil.which``, ``getpass``, ``subprocess``...)
gets the allowed variables plus :data:`MACHINERY_VISIBLE`, a fixed list of variables that
configure it and hold no secret, and sees every other variable as absent. The caller is the
first frame outside ``os``'s mapping methods, ``collections.abc`` and hermetic; no variable
outside those two lists is ever revealed, whoever asks.
"""

from __future__ import annotations

import _collections_abc
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import FrameType
    from typing import Any, Callable, NoReturn, Union

    Key = Union[str, bytes]

REASON = "environment disabled"
#: The ``allow_env`` entry that allows every variable, listing the environment included.
EVERYTHING = "*"
_WILDCARDS = ("*", "?", "[")

#: Visible to Python's machinery (never to the program, unless allowed) and handed to
#: child processes started without ``env=``: each configures the standard library, the
#: interpreter or pytest, and none holds a secret. ``PYTHON*`` keeps ``PYTHONPATH``, so a
#: child Python still loads hermetic's bootstrap.
MACHINERY_VISIBLE = (
    # where programs, the home and temporary directories are (shutil.which, expanduser,
    # tempfile)
    "PATH",
    "HOME",
    "TMPDIR",
    "TEMP",
    "TMP",
    # locale, time zone and terminal (locale, gettext and argparse, shutil.get_terminal_size,
    # coloured tracebacks)
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    # who runs the program (getpass.getuser)
    "LOGNAME",
    "USER",
    "LNAME",
    "USERNAME",
    # the interpreter's own settings (PYTHONPATH, PYTHONASYNCIODEBUG, PYTHON_COLORS...), the
    # libraries it needs to start, and where the ssl module looks for CA certificates
    "PYTHON*",
    "LD_LIBRARY_PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    # pytest's bookkeeping and output settings
    "PYTEST_CURRENT_TEST",
    "PYTEST_VERSION",
    "PYTEST_DEBUG_TEMPROOT",
    "PY_COLORS",
    "CI",
    "BUILD_NUMBER",
)

#: Functions of ``os`` that only pass a request on: the caller behind them is asked about.
#: Other functions of ``os`` (``get_exec_path``, ``_execvpe``) are the machinery itself.
_OS_PASS_ON = frozenset(
    (
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "__iter__",
        "__len__",
        "__repr__",
        "copy",
        "setdefault",
        "__ior__",
        "__or__",
        "__ror__",
        "getenv",
        "getenvb",
    )
)
#: pytest's modules act for the test runner, except these two, which act for the test.
_ACTS_FOR_THE_TEST = ("_pytest.monkeypatch", "_pytest.pytester")
_VENDORED = ("site-packages", "dist-packages")
#: hermetic's own packages; in the bootstrap a guard's code runs as ``hermetic_guard_<name>``.
_FIRST_PARTY = frozenset(
    ("hermetic", "hermetic_net", "hermetic_fs", "hermetic_proc", "hermetic_imports", "hermetic_cli")
)
_CACHE_LIMIT = 4096


def is_pattern(entry: str) -> bool:
    """Whether an ``allow_env`` entry is a glob pattern (``*``, ``?`` or ``[...]``)."""
    return any(c in entry for c in _WILDCARDS)


class Matcher:
    """Tells whether a variable name matches a list of names and glob patterns.

    Exact names are a set lookup and ``PREFIX*`` patterns a ``startswith``; only other
    patterns need ``fnmatch``, which is imported when one is given. Matching is case
    sensitive, as variable names are on POSIX.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        """Sort ``entries`` into exact names, prefixes and other patterns."""
        exact: set[str] = set()
        prefixes: list[str] = []
        globs: list[str] = []
        for entry in entries:
            if not is_pattern(entry):
                exact.add(entry)
            elif entry.endswith("*") and not is_pattern(entry[:-1]):
                prefixes.append(entry[:-1])
            else:
                globs.append(entry)
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)
        self.globs = tuple(globs)
        self.everything = "" in self.prefixes
        self._match: Callable[[str, str], bool] | None = None
        if self.globs:
            from fnmatch import fnmatchcase

            self._match = fnmatchcase

    def __call__(self, name: str) -> bool:
        """Whether ``name`` is one of the names or matches one of the patterns."""
        if name in self.exact:
            return True
        for prefix in self.prefixes:
            if name.startswith(prefix):
                return True
        match = self._match
        if match is not None:
            for pattern in self.globs:
                if match(name, pattern):
                    return True
        return False


def covers(pattern: str, entry: str) -> bool:
    """Whether every name that ``entry`` matches is matched by ``pattern`` as well.

    Sound but not complete: a ``True`` is always right (the merge of two policies relies on
    it), while some pairs of patterns that do nest are not recognised and give ``False``.
    """
    if pattern == entry:
        return True
    if not is_pattern(entry):
        return Matcher((pattern,))(entry)
    if pattern.endswith("*") and not is_pattern(pattern[:-1]):
        # entry begins with the same literal characters, so everything it matches does
        return entry.startswith(pattern[:-1])
    return False


def _name(key: Key) -> str:
    return key if type(key) is str else os.fsdecode(key)


def _exact(key: Any) -> Key | None:
    """``key`` as an exact ``str`` or ``bytes`` (a subclass could lie in hash or encode)."""
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, bytes):
        return bytes(key)
    return None


def _show_name(name: str) -> str:
    """A variable name as it would be typed after ``--allow-env``."""
    plain = name.replace("_", "").replace("-", "").replace(".", "")
    return name if plain.isalnum() and plain.isascii() else repr(name)


def allow_hint(name: str) -> str:
    """How to allow variable ``name``."""
    return f"use --allow-env {_show_name(name)} or allow_env=[{name!r}]"


LIST_HINT = (
    "read the variables the program needs by name and allow them with --allow-env NAME or "
    "allow_env=['NAME']; listing the whole environment needs --allow-env '*'"
)
CHILD_HINT = (
    "use subprocess.run(..., shell=True), whose child gets only the variables the policy "
    "lets it see, or allow the variables with --allow-env NAME"
)


def _bytes_only(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"bytes expected, not {type(value).__name__}")
    return value


def _globals_of(runtime: Any) -> dict[str, Any] | None:
    """The namespace of the runtime's own functions (its wrappers and its audit hook)."""
    method = getattr(type(runtime), "deny", None)
    found = getattr(method, "__globals__", None)
    return found if isinstance(found, dict) else None


def _stdlib_prefixes() -> tuple[str, ...]:
    """Where the standard library lives: the directory of ``os.py`` (none known: nothing)."""
    file = getattr(os, "__file__", None)
    if not isinstance(file, str):
        return ()  # fail closed: the standard library's reads are then the program's
    here = os.path.dirname(file)
    return tuple(dict.fromkeys(d.rstrip(os.sep) + os.sep for d in (here, os.path.realpath(here))))


def classify(file: Any, name: Any, stdlib: tuple[str, ...]) -> bool:
    """Whether a module (by ``__file__`` and ``__name__``) is machinery, not the program.

    Machinery: hermetic's own packages, pytest's runner (not its ``monkeypatch`` and ``pytester``,
    which act for the test) and the standard library, i.e. files under the directory of
    ``os.py`` but not in its ``site-packages``. Everything else is the program.
    """
    if isinstance(name, str):
        if name.partition(".")[0] in _FIRST_PARTY or name.startswith("hermetic_guard_"):
            return True
        if name.startswith("_pytest."):
            return not name.startswith(_ACTS_FOR_THE_TEST)
    if isinstance(file, str):
        for prefix in stdlib:
            if file.startswith(prefix):
                return not file[len(prefix) :].startswith(_VENDORED)
    return False


_MACHINERY = Matcher(MACHINERY_VISIBLE)
_STDLIB = _stdlib_prefixes()
#: (``__file__``, ``__name__``) of a module -> machinery or not; the same for every policy.
_TRUSTED: dict[Any, bool] = {}
# Layers share the one posix.environ replacement: the first installs it, the last removes it.
_SHARED: dict[str, Any] = {"view": None, "layers": 0}


def install(options: dict[str, Any], runtime: Any) -> None:
    """Install one layer of the environment guard; ``options`` holds every option it declares."""
    allowed = Matcher(options.get("allow_env") or ())
    machinery = _MACHINERY
    everything = allowed.everything
    deny: Callable[..., NoReturn] = runtime.deny
    environ_type: Any = type(os.environ)
    raw: dict[bytes, bytes] = os.environ._data  # type: ignore[attr-defined]
    raw_module: Any = sys.modules.get(os.name)
    getframe = sys._getframe
    own = globals()
    runtime_globals = _globals_of(runtime)
    abc_globals = vars(_collections_abc)
    os_globals = vars(os)
    stdlib = _STDLIB
    trusted = _TRUSTED
    install_pid = os.getpid()

    # Verdicts by key as given (str or bytes): the common path is one dictionary lookup.
    program_ok: dict[Any, bool] = {}
    machinery_ok: dict[Any, bool] = {}

    def program_may(key: Key) -> bool:
        found = program_ok.get(key)
        if found is None:
            found = allowed(_name(key))
            if len(program_ok) > _CACHE_LIMIT:
                program_ok.clear()
            program_ok[key] = found
        return found

    def machinery_may(key: Key) -> bool:
        found = machinery_ok.get(key)
        if found is None:
            name = _name(key)
            found = allowed(name) or machinery(name)
            if len(machinery_ok) > _CACHE_LIMIT:
                machinery_ok.clear()
            machinery_ok[key] = found
        return found

    def by_machinery() -> bool:
        """Whether the code asking is Python's machinery (else it is the program).

        Walks out of hermetic's frames, ``collections.abc`` (``get``, ``in``, views) and the
        ``os`` functions that only pass a request on; the first other frame decides.
        ``f_code`` is read (an audited attribute) only for frames of ``os``.
        """
        frame: FrameType | None = getframe(1)
        while frame is not None:
            g = frame.f_globals
            if g is own or g is runtime_globals or g is abc_globals:
                frame = frame.f_back
                continue
            if g is os_globals and frame.f_code.co_name in _OS_PASS_ON:
                frame = frame.f_back
                continue
            # dict.get: a namespace of the program's may be a dict subclass with its own get
            file = dict.get(g, "__file__")
            name = dict.get(g, "__name__")
            # Both are the key: the verdict depends on both, so no namespace can make the
            # cache answer for another.
            cache_key = (file, name)
            try:
                verdict = trusted.get(cache_key)
            except TypeError:  # an unhashable __file__ or __name__: no module anyone imports
                return False
            if verdict is None:
                verdict = classify(file, name, stdlib)
                if len(trusted) > _CACHE_LIMIT:
                    trusted.clear()
                trusted[cache_key] = verdict
            return verdict
        return True  # no Python caller at all: C code; it gets the machinery's answers

    def where(mapping: Any) -> str:
        if mapping is getattr(os, "environb", None):
            return "os.environb"
        if mapping is _SHARED["view"]:
            return "posix.environ"
        return "os.environ"

    def refuse(verb: str, mapping: Any, key: Key) -> NoReturn:
        name = _name(key)
        what = f"{verb} {where(mapping)}[{key!r}]"
        deny(what, name, reason=REASON, hint=allow_hint(name))

    def refuse_listing(verb: str, mapping: Any) -> NoReturn:
        deny(f"{verb} {where(mapping)}", EVERYTHING, reason=REASON, hint=LIST_HINT)

    # -- reads ---------------------------------------------------------------------------
    def getitem(original: Callable[..., Any], mapping: Any, key: Any) -> Any:
        kind = type(key)
        if kind is not str and kind is not bytes:
            exact = _exact(key)
            if exact is None:  # not a variable name at all: os raises its own TypeError
                return original(mapping, key)
            key = exact
        if program_may(key):
            return original(mapping, key)
        if not by_machinery():
            refuse("read", mapping, key)
        if machinery_may(key):
            return original(mapping, key)
        raise KeyError(key) from None

    def visible_keys(keys: Iterator[Key]) -> Iterator[Key]:
        for key in keys:
            if machinery_may(key):
                yield key

    def iterate(original: Callable[..., Any], mapping: Any) -> Any:
        if everything:
            return original(mapping)
        if not by_machinery():
            refuse_listing("list the variables of", mapping)
        return visible_keys(original(mapping))

    def length(original: Callable[..., Any], mapping: Any) -> int:
        if everything:
            return int(original(mapping))
        if not by_machinery():
            refuse_listing("list the variables of", mapping)
        return sum(1 for key in mapping._data if machinery_may(key))

    def represent(original: Callable[..., Any], mapping: Any) -> str:
        if everything:
            return str(original(mapping))
        if not by_machinery():
            refuse_listing("show", mapping)
        shown = ", ".join(
            f"{mapping.decodekey(k)!r}: {mapping.decodevalue(v)!r}"
            for k, v in list(mapping._data.items())
            if machinery_may(k)
        )
        return f"environ({{{shown}}})"

    # -- writes --------------------------------------------------------------------------
    def may_write(key: Key) -> bool:
        return program_may(key) or (by_machinery() and machinery_may(key))

    def setitem(original: Callable[..., Any], mapping: Any, key: Any, value: Any) -> Any:
        exact = _exact(key)
        if exact is None:
            return original(mapping, key, value)
        if not may_write(exact):
            refuse("set", mapping, exact)
        return original(mapping, exact, value)

    def delitem(original: Callable[..., Any], mapping: Any, key: Any) -> Any:
        exact = _exact(key)
        if exact is None:
            return original(mapping, key)
        if not may_write(exact):
            refuse("unset", mapping, exact)
        return original(mapping, exact)

    for attr, around in (
        ("__getitem__", getitem),
        ("__iter__", iterate),
        ("__len__", length),
        ("__repr__", represent),
        ("__setitem__", setitem),
        ("__delitem__", delitem),
    ):
        runtime.wrap(environ_type, attr, around)

    def check_write(verb: str, function: str, key: Any) -> None:
        exact = _exact(key)  # bytes on POSIX; anything else is refused (fail closed)
        if exact is None or not may_write(exact):
            name = repr(key) if exact is None else _name(exact)
            deny(f"{verb} {name} through {function}", name, reason=REASON, hint=allow_hint(name))

    def on_putenv(_event: str, args: tuple[Any, ...]) -> None:
        check_write("set", "os.putenv", args[0] if args else None)

    def on_unsetenv(_event: str, args: tuple[Any, ...]) -> None:
        check_write("unset", "os.unsetenv", args[0] if args else None)

    runtime.on_audit("os.putenv", on_putenv)
    runtime.on_audit("os.unsetenv", on_unsetenv)

    # -- child processes -----------------------------------------------------------------
    def hidden() -> list[str]:
        if everything:
            return []
        return sorted(_name(k) for k in list(raw) if not machinery_may(k))

    def child_items() -> list[tuple[bytes, bytes]] | None:
        """The variables a child started without ``env`` gets (None: all of them)."""
        if everything:
            return None
        items = list(raw.items())
        kept = [(k, v) for k, v in items if machinery_may(k)]
        return None if len(kept) == len(items) else kept

    def fork_exec(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # (args, executable_list, close_fds, pass_fds, cwd, env_list, ...) on 3.9-3.13
        if len(args) > 5 and args[5] is None:
            kept = child_items()
            if kept is not None:
                args = (*args[:5], [k + b"=" + v for k, v in kept], *args[6:])
        return original(*args, **kwargs)

    def execv(original: Callable[..., Any], path: Any, argv: Any) -> Any:
        kept = child_items()
        if kept is None:
            return original(path, argv)
        return os.execve(path, argv, dict(kept))

    def posix_spawn(
        original: Callable[..., Any], path: Any, argv: Any, *rest: Any, **kw: Any
    ) -> Any:
        if rest and rest[0] is None:
            kept = child_items()
            if kept is not None:
                rest = (dict(kept), *rest[1:])
        elif not rest and "env" in kw and kw["env"] is None:
            kept = child_items()
            if kept is not None:
                kw["env"] = dict(kept)
        return original(path, argv, *rest, **kw)

    import _posixsubprocess

    runtime.wrap(_posixsubprocess, "fork_exec", fork_exec)
    subprocess = sys.modules.get("subprocess")
    if subprocess is not None and getattr(subprocess, "_fork_exec", None) is not None:
        runtime.wrap(subprocess, "_fork_exec", fork_exec)  # bound at its import on 3.11+
    if hasattr(os, "execv"):
        runtime.wrap(os, "execv", execv)
    if sys.version_info >= (3, 13):  # env=None means "inherit" from 3.13 on
        for name in ("posix_spawn", "posix_spawnp"):
            if hasattr(os, name):
                runtime.wrap(os, name, posix_spawn)

    def refuse_inheriting(what: str, exec_in_child: bool = False) -> None:
        names = hidden()
        if not names:
            return
        exc = runtime.violation(
            f"{what} would pass on the whole environment, with {len(names)} variable(s) the "
            "policy does not let it see",
            names[0],
            reason=REASON,
            hint=CHILD_HINT,
        )
        if exec_in_child and os.getpid() != install_pid:
            # A refused exec in a forked child would leave it running the parent's code.
            try:
                sys.stderr.write(f"{exc}\n")
                sys.stderr.flush()
            finally:
                os._exit(126)
        raise exc

    def on_exec(_event: str, args: tuple[Any, ...]) -> None:
        if len(args) > 2 and args[2] is None:
            refuse_inheriting(f"exec of {args[0]!r} without env", exec_in_child=True)

    def on_posix_spawn(_event: str, args: tuple[Any, ...]) -> None:
        if len(args) > 2 and args[2] is None:
            refuse_inheriting(f"posix_spawn of {args[0]!r} without env")

    def on_system(_event: str, args: tuple[Any, ...]) -> None:
        command = args[0] if args else b""
        if isinstance(command, bytes):
            command = command.decode("utf-8", "backslashreplace")
        refuse_inheriting(f"os.system({command!r})")

    runtime.on_audit("os.exec", on_exec)
    runtime.on_audit("os.posix_spawn", on_posix_spawn)
    runtime.on_audit("os.system", on_system)

    # -- a fresh os module ---------------------------------------------------------------
    os_files = frozenset(
        f for f in (getattr(os, "__file__", None), "<frozen os>") if isinstance(f, str)
    )

    def on_code_exec(_event: str, args: tuple[Any, ...]) -> None:
        # Runs for every module body (and every exec of code) in the process: one lookup.
        try:
            code = args[0]
            if code.co_filename not in os_files or code.co_name != "<module>":
                return
        except (AttributeError, IndexError, TypeError):
            return  # not a code object: an event raised by hand (sys.audit)
        deny(
            "run the os module's code again (importlib.reload(os), or a fresh import "
            "of os after removing it from sys.modules)",
            "os",
            reason=REASON,
            hint="it would replace os.environ, os.getenv and the rest of os with copies "
            "the guard has not patched; use the os module as it is",
        )

    runtime.on_audit("exec", on_code_exec)

    # -- posix.environ: the same storage, as one more guarded instance --------------------
    if raw_module is not None:
        view = _SHARED["view"]
        if view is None and getattr(raw_module, "environ", None) is raw:
            view = environ_type(raw, _bytes_only, bytes, _bytes_only, bytes)
            raw_module.environ = view
            _SHARED["view"] = view
        if view is not None:
            _SHARED["layers"] += 1


def uninstall(runtime: Any) -> None:
    """Put ``posix.environ`` back when the last layer goes (the runtime undoes the rest)."""
    view: Any = _SHARED["view"]
    if view is None:
        return
    _SHARED["layers"] -= 1
    if _SHARED["layers"] > 0:
        return
    _SHARED["view"] = None
    raw = view._data
    raw_module: Any = sys.modules.get(os.name)
    if raw_module is not None and getattr(raw_module, "environ", None) is view:
        raw_module.environ = raw
