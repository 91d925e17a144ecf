"""The interpreter guard's one implementation: standard library only, never imports hermetic.

hermetic imports this module in-process and executes its source inside the bootstrap of a
foreign interpreter. ``install(options, runtime)`` freezes the interpreter state a program
uses to change where code comes from and how it is watched: the import lists
(``sys.path``, ``sys.meta_path``, ``sys.path_hooks``), the working directory, trace and
profile functions, and ``.pth`` processing. Reading any of them keeps working.

Two layers, fed by one :class:`Layer` per install:

* patches, for the earliest and clearest refusal. The three lists are replaced by
  :class:`GuardedList` copies whose mutating methods refuse any change (a call that would
  leave the list as it is passes), because a list is changed in place and no audit event
  reports it. The import system only reads them, so imports, ``pkgutil``,
  ``importlib.resources`` and ``importlib.metadata`` are unaffected; its caches
  (``sys.path_importer_cache``, a package's ``__path__``) are not touched. ``sys.settrace``,
  ``sys.setprofile``, their all-threads forms, ``sys.monitoring``'s ``register_callback``
  and the ``site`` functions that process ``.pth`` files are checked before they run, and so
  are ``threading``'s tracing functions and ``cProfile.Profile.enable`` once the program
  imports those modules (the guard does not import them: the bootstrap stays cheap).
* audit handlers, which see what the patches cannot: ``os.chdir`` (raised for ``chdir`` and
  ``fchdir`` however they are reached), ``sys.settrace`` / ``sys.setprofile`` (also raised
  by C code such as a profiler, and by references captured before the guard),
  ``sys.monitoring.register_callback``, ``compile`` called by ``site.addpackage`` (a
  ``.pth`` import line run through a captured, reloaded or fresh ``site``), and ``import``
  and ``exec``, which come before every module is found or run: there the guard checks
  that the three lists are still its own, with the contents it let them have. A list
  replaced (``sys.path = [...]``) or changed without its methods (``list.append(sys.path,
  x)``, C code) is put back and that import is refused.

In the bootstrap the guard is installed while ``site`` is still starting the interpreter.
What runs there before the program is the environment's start-up (the sitecustomize
hermetic chains to, usercustomize, the interpreter adding the script's directory to
``sys.path``), so nothing is refused until it ends: the lists are frozen when the first
``cpython.run_*`` event says the program starts, or at the first check made outside
``site``'s start-up.
"""

from __future__ import annotations

import _thread
import os
import site
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Any, Callable

REASON = "interpreter state is frozen"
SWITCH = "or leave out --no-interpreter-mutation / block_interpreter_mutation=True"
#: How to do what was refused without refusing it, per surface; SWITCH follows.
HINTS = {
    "sys.path": "set import paths before the guard starts, e.g. with PYTHONPATH",
    "sys.meta_path": "install import hooks before the guard starts",
    "sys.path_hooks": "install path hooks before the guard starts",
    "chdir": "use absolute paths, or cwd= for a child process",
    "trace": "start tracers, profilers and debuggers before the guard",
    "site": "add site directories before the guard starts, e.g. with PYTHONPATH",
}


def hint(surface: str, undone: bool = False) -> str:
    """The advice in a message: how to do it otherwise, and how to allow it."""
    return ("the change was undone; " if undone else "") + f"{HINTS[surface]}; {SWITCH}"


#: The import lists, as attributes of ``sys``.
LISTS = ("path", "meta_path", "path_hooks")
#: Where they are looked up (a module's namespace is never replaced).
_SYS = sys.__dict__

#: Raised by the interpreter just before it runs the program (after site's start-up and after
#: it added the script's directory to ``sys.path``).
RUN_EVENTS = (
    "cpython.run_command",
    "cpython.run_module",
    "cpython.run_file",
    "cpython.run_stdin",
    "cpython.run_startup",
    "cpython.run_interactivehook",
)

#: Tracing entry points: (module, function, ``"trace"`` or ``"profile"``). Each is
#: refused unless it switches tracing off or keeps what is set already.
TRACERS = (
    ("sys", "settrace", "trace"),
    ("sys", "setprofile", "profile"),
    ("sys", "_settraceallthreads", "trace"),  # 3.12+
    ("sys", "_setprofileallthreads", "profile"),  # 3.12+
    ("threading", "settrace", "trace"),
    ("threading", "setprofile", "profile"),
    ("threading", "settrace_all_threads", "trace"),  # 3.12+
    ("threading", "setprofile_all_threads", "profile"),  # 3.12+
)

#: Modules patched once the program imports them (never imported for the guard).
LATER = ("threading", "cProfile")

#: ``site`` functions that add site directories and process their ``.pth`` files.
SITE_FUNCTIONS = ("addsitedir", "addpackage", "addsitepackages", "addusersitepackages", "main")

#: List methods that change the list in place.
MUTATORS = (
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
    "__init__",
)

# Not compile(): the code-exec guard, installed first, would refuse it at this import.
_CodeType = type((lambda: None).__code__)

#: Where the code of ``site``'s functions says it comes from ("<frozen site>" on 3.11+), and
#: the file a fresh copy would be compiled from.
SITE_CODE = site.makepath.__code__.co_filename
SITE_FILES = frozenset(f for f in (SITE_CODE, getattr(site, "__file__", None)) if f)


def _show(value: Any, limit: int = 80) -> str:
    """A value as it appears in a message: its repr, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _index(key: Any) -> str:
    if isinstance(key, slice):
        parts = ["" if p is None else _show(p) for p in (key.start, key.stop, key.step)]
        return ":".join(parts[:2]) + (":" + parts[2] if key.step is not None else "")
    return _show(key)


def describe(name: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A list method call as source text: ``sys.path.insert(0, '/x')``, ``del sys.path[0]``."""
    if method == "__setitem__" and len(args) == 2:
        return f"{name}[{_index(args[0])}] = {_show(args[1])}"
    if method == "__delitem__" and args:
        return f"del {name}[{_index(args[0])}]"
    if method == "__iadd__" and args:
        return f"{name} += {_show(args[0])}"
    if method == "__imul__" and args:
        return f"{name} *= {_show(args[0])}"
    shown = [_show(a) for a in args] + [f"{k}={_show(v)}" for k, v in kwargs.items()]
    return f"{name}.{method}({', '.join(shown)})"


def _same(a: Any, b: Any) -> bool:
    """Whether two lists hold the very same objects in the same order."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _equal(x: Any, y: Any) -> bool:
    if x is y:
        return True
    try:
        return bool(x == y)
    except Exception:
        return False


def _effective(items: Any) -> list[Any]:
    """The entries that take effect: each first occurrence, in order.

    The import system uses the first of equal entries, so adding or dropping a later
    duplicate changes nothing it does.
    """
    out: list[Any] = []
    for item in items:
        if not any(_equal(item, seen) for seen in out):
            out.append(item)
    return out


def same_effect(a: Any, b: Any) -> bool:
    """Whether two import lists make the import system do the same."""
    if _same(a, b):
        return True
    first, second = _effective(a), _effective(b)
    return len(first) == len(second) and all(_equal(x, y) for x, y in zip(first, second))


def _callable_name(func: Any) -> str:
    name = getattr(func, "__qualname__", None)
    return name if isinstance(name, str) else _show(func)


def _code_of(func: Any) -> CodeType | None:
    """The code object a trace function runs (for a function or a bound method)."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    return code if isinstance(code, _CodeType) else None


def _ready(module: Any) -> bool:
    """Whether ``module`` has finished executing (it is not half-imported)."""
    return module is not None and not getattr(
        getattr(module, "__spec__", None), "_initializing", False
    )


class GuardedList(list):  # type: ignore[type-arg]
    """One of ``sys.path``, ``sys.meta_path`` and ``sys.path_hooks`` under the guard.

    Reads work as on any list; a method that would change the list refuses (one that
    would leave it as it is passes). Copies, slices and pickles are plain lists. Once its
    layer is removed it is an ordinary list again.
    """

    _hermetic_layer: Any = None
    _hermetic_name = ""

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy.copy, deepcopy and pickle would otherwise rebuild the list by appending.
        return (list, (list(self),))

    def __reduce__(self) -> Any:
        return (list, (list(self),))


def _mutator(method: str) -> Callable[..., Any]:
    base = getattr(list, method)

    def guarded(self: GuardedList, *args: Any, **kwargs: Any) -> Any:
        layer = self._hermetic_layer
        if layer is None or not layer.live:
            return base(self, *args, **kwargs)
        return layer.mutate(self, method, base, args, kwargs)

    guarded.__name__ = method
    guarded.__qualname__ = "GuardedList." + method
    guarded.__doc__ = base.__doc__
    return guarded


for _method in MUTATORS:
    setattr(GuardedList, _method, _mutator(_method))
del _method


def _live_guarded(value: Any) -> bool:
    """Whether ``value`` is a guarded list of a live layer (of this copy or another one)."""
    if type(value).__name__ != "GuardedList":
        return False
    return bool(getattr(getattr(value, "_hermetic_layer", None), "live", False))


class Layer:
    """One installed layer of the guard: the frozen lists and every check."""

    def __init__(self, runtime: Any) -> None:
        """Capture what the checks compare against; install nothing yet."""
        self.runtime = runtime
        self.live = True
        self.armed = False
        self.vouch: Any = _thread._local()
        # attribute -> [guarded list, the contents it must have]. Contents are tuples: a
        # program searching gc.get_objects() for a list like sys.path finds no snapshot to
        # edit.
        self.lists: dict[str, list[Any]] = {}
        self.originals: dict[str, Any] = {}
        self.arm_contents: dict[str, tuple[Any, ...]] = {}
        own = globals()
        runtime_globals = getattr(getattr(type(runtime), "deny", None), "__globals__", None)
        self.skip = tuple(g for g in (own, runtime_globals) if g is not None)
        self.starting = self.site_starting()
        self.threading: Any = None
        self.pending: tuple[str, ...] = LATER  # replaced, never changed in place
        #: Once armed, when this layer guards all three lists (else None): the guarded
        #: ``sys.path``, ``sys.meta_path`` and ``sys.path_hooks``, then their entries in
        #: ``lists``. What the check at every import reads.
        self.watched: (
            tuple[GuardedList, GuardedList, GuardedList, list[Any], list[Any], list[Any]] | None
        ) = None
        self.profiler_claimed = False
        self.bootstrap_inner: CodeType | None = None
        self.hooks: dict[str, Any] = {}
        self.trusted_codes: set[CodeType] = set()
        self.capture_tracing()

    def capture_tracing(self) -> None:
        """Remember the tracing set up before the guard (or during start-up)."""
        # The hooks threading hands every new thread: none if threading is not imported yet
        # (so nothing can have set one).
        threading = sys.modules.get("threading")
        self.hooks = {
            kind: getattr(threading, f"_{kind}_hook", None) if _ready(threading) else None
            for kind in ("trace", "profile")
        }
        for func in (sys.gettrace(), sys.getprofile(), *self.hooks.values()):
            code = _code_of(func)
            if code is not None:
                self.trusted_codes.add(code)

    # -- start-up ----------------------------------------------------------------------
    def site_starting(self) -> bool:
        """Whether this thread runs inside ``site.main()``: the interpreter's start-up."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            if code.co_name == "main" and code.co_filename == SITE_CODE:
                return True
            frame = frame.f_back
        return False

    def in_startup(self) -> bool:
        """True while the environment's start-up runs; arms the lists once it is over."""
        if not self.starting:
            return False
        if self.site_starting():
            return True
        self.arm()
        return False

    def on_run(self, _event: str, _args: tuple[Any, ...]) -> None:
        """The interpreter starts the program: freeze from now on."""
        if self.starting:
            self.arm()

    # -- the import lists --------------------------------------------------------------
    def arm(self) -> None:
        """Replace the three lists with guarded copies (once)."""
        if self.starting:
            self.starting = False
            self.capture_tracing()  # what start-up set up counts as set up before the guard
        if self.armed or not self.live:
            return
        self.armed = True
        for attr in LISTS:
            current = sys.__dict__.get(attr)
            if _live_guarded(current):
                continue  # another copy of this guard (the bootstrap's) freezes it already
            guarded = GuardedList.__new__(GuardedList)
            if isinstance(current, list):
                list.extend(guarded, current)
            guarded._hermetic_name = "sys." + attr
            guarded._hermetic_layer = self
            self.originals[attr] = current
            self.arm_contents[attr] = tuple(guarded)
            self.lists[attr] = [guarded, tuple(guarded)]
            setattr(sys, attr, guarded)
        if all(attr in self.lists for attr in LISTS):
            path, meta_path, path_hooks = (self.lists[attr] for attr in LISTS)
            self.watched = (path[0], meta_path[0], path_hooks[0], path, meta_path, path_hooks)

    def hermetic_at_work(self) -> bool:
        """Whether hermetic itself is installing or removing guards in this thread.

        Another guard may add an import hook of its own while this one is installed.
        """
        activation = sys.modules.get("hermetic._activation")
        namespace = getattr(activation, "__dict__", None)
        if namespace is None:
            return False
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_globals is namespace:
                return True
            frame = frame.f_back
        return False

    def mutate(
        self,
        guarded: GuardedList,
        method: str,
        base: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run a list method on a copy; refuse it if imports would change.

        A call that leaves the entries in effect as they are (adding or removing a later
        duplicate, writing an entry over itself) passes.
        """
        trial = list(guarded)
        result = base(trial, *args, **kwargs)  # raises what the list itself would raise
        if not _same(trial, guarded):
            name = guarded._hermetic_name
            if not same_effect(trial, guarded) and not self.hermetic_at_work():
                self.runtime.deny(
                    describe(name, method, args, kwargs),
                    name,
                    reason=REASON,
                    hint=hint(name),
                )
            list.__setitem__(guarded, slice(None), trial)
            entry = self.lists.get(name[4:])
            if entry is not None and entry[0] is guarded:
                entry[1] = tuple(trial)
        return guarded if method in ("__iadd__", "__imul__") else result

    def verify(self) -> None:
        """Refuse (and undo) a list replaced or changed behind the guard's back."""
        if not self.armed:
            if self.live and not self.in_startup():
                self.arm()
            return
        if self.pending:
            self.patch_pending()
        if self.profiler_claimed:
            self.release_profiler()
        found = sys.__dict__
        for attr, entry in self.lists.items():
            guarded: GuardedList = entry[0]
            content = entry[1]
            current = found.get(attr)
            if current is guarded and tuple(entry[0]) == content:
                continue
            self.repair(attr, guarded, content, current)

    def repair(self, attr: str, guarded: GuardedList, content: Any, current: Any) -> None:
        """Put the guarded list back as it must be; refuse unless imports are unaffected."""
        if sys.is_finalizing():
            return  # the interpreter sets the lists to None as it shuts down: leave them be
        name = "sys." + attr
        if current is not guarded:
            setattr(sys, attr, guarded)
            changed = current if isinstance(current, list) else None
            if changed is not None and self.multiprocessing_prepares():
                # A spawned (or forkserver) child takes its parent's sys.path: adopt it.
                list.__setitem__(guarded, slice(None), changed)
                self.lists[attr][1] = tuple(changed)
                return
        else:
            changed = list(guarded)
        if changed is not None and same_effect(changed, content):
            # Only later duplicates differ: nothing the import system does changes.
            if current is guarded:
                self.lists[attr][1] = tuple(changed)
            return
        if not _same(guarded, content):
            list.__setitem__(guarded, slice(None), content)
        if changed is None:
            what = f"{name} replaced by {_show(current)}"
        elif current is guarded:
            what = f"{name} changed without its methods: it {_change(content, changed)}"
        else:
            what = f"{name} replaced by a list that {_change(content, changed)}"
        self.runtime.deny(what, name, reason=REASON, hint=hint(name, undone=True))

    def multiprocessing_prepares(self) -> bool:
        """Whether a new multiprocessing child is being prepared in this thread.

        ``multiprocessing.spawn.prepare`` makes a child started by the *spawn* or
        *forkserver* method take its parent's ``sys.path`` (and working directory) while the
        child inherits its process object, before it runs anything of the program.
        """
        spawn = sys.modules.get("multiprocessing.spawn")
        process = sys.modules.get("multiprocessing.process")
        namespace = getattr(spawn, "__dict__", None)
        if namespace is None or process is None:
            return False
        try:
            if not getattr(process.current_process(), "_inheriting", False):
                return False
        except Exception:
            return False
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_globals is namespace and frame.f_code.co_name == "prepare":
                return True
            frame = frame.f_back
        return False

    def on_import(self, _event: str, _args: tuple[Any, ...]) -> None:
        """``import`` and ``exec``: check the lists before a module is found or run.

        This runs for every module imported or run, so the common case is checked here,
        inline: armed, no module of :data:`LATER` waiting to be patched, no profiler to
        release, and each list still in ``sys`` with the contents the guard let it have.
        Anything else is :meth:`verify`'s.
        """
        if not self.live:
            return
        watched = self.watched
        if watched is not None and not self.profiler_claimed:
            modules = sys.modules
            for name in self.pending:
                if name in modules:
                    break
            else:
                path, meta_path, path_hooks, path_entry, meta_entry, hooks_entry = watched
                found = _SYS
                if (
                    found.get("path") is path
                    and found.get("meta_path") is meta_path
                    and found.get("path_hooks") is path_hooks
                    and tuple(path) == path_entry[1]
                    and tuple(meta_path) == meta_entry[1]
                    and tuple(path_hooks) == hooks_entry[1]
                ):
                    return
        self.verify()

    # -- working directory -------------------------------------------------------------
    def on_chdir(self, _event: str, args: tuple[Any, ...]) -> None:
        """Refuse ``os.chdir``/``os.fchdir`` unless it would stay in the same directory."""
        if not self.live or self.in_startup():
            return
        self.verify()  # multiprocessing's prepare() changes sys.path just before it
        target = args[0] if args else None
        if _same_directory(target):
            return
        if isinstance(target, int):
            what = f"os.fchdir({target})"
            try:
                shown = os.readlink(f"/proc/self/fd/{target}")
            except OSError:
                shown = f"fd {target}"
        else:
            what = f"os.chdir({_show(target)})"
            shown = _path_text(target)
        self.runtime.deny(what, shown, reason=REASON, hint=hint("chdir"))

    # -- tracing -----------------------------------------------------------------------
    def patch_pending(self) -> None:
        """Patch the modules of :data:`LATER` that have been imported since the last check.

        They are not imported for the guard: the bootstrap's start-up stays as cheap as the
        interpreter's. Until one is patched, its audit events are what refuses.
        """
        for name in self.pending:
            module = sys.modules.get(name)
            if _ready(module):
                self.pending = tuple(n for n in self.pending if n != name)
                getattr(self, "patch_" + name.lower())(module)

    def patch_threading(self, module: Any) -> None:
        """Patch ``threading``'s tracing functions."""
        self.threading = module
        inner = getattr(getattr(module, "Thread", None), "_bootstrap_inner", None)
        self.bootstrap_inner = _code_of(inner)
        for owner, function, kind in TRACERS:
            if owner == "threading" and hasattr(module, function):
                self.runtime.wrap(module, function, self.tracer_patch(owner, function, kind))

    def patch_cprofile(self, module: Any) -> None:
        """Refuse ``cProfile.Profile.enable`` before the C profiler starts.

        On 3.12+ the C code claims a ``sys.monitoring`` tool before it registers the
        callbacks whose audit event is refused, and reports that refusal as a
        ``SystemError``; checking first keeps the message plain and the tool free.
        """
        profile = getattr(module, "Profile", None)
        if not isinstance(profile, type) or not hasattr(profile, "enable"):
            return

        def check(*_args: Any, **_kwargs: Any) -> None:
            if self.live and not (self.in_startup() or self.tracing_from_before()):
                self.runtime.deny(
                    "cProfile.Profile.enable()", "cProfile", reason=REASON, hint=hint("trace")
                )

        self.runtime.check_before(profile, "enable", check)
        # Stopping a profiler switches tracing off: the C code's audit event cannot say so.
        self.runtime.wrap(profile, "disable", self.vouched)

    def vouched(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``original``; the tracing audit events it raises were checked here."""
        depth = getattr(self.vouch, "depth", 0)
        self.vouch.depth = depth + 1
        try:
            return original(*args, **kwargs)
        finally:
            self.vouch.depth = depth

    def caller(self) -> FrameType | None:
        """The first frame that is neither this module's nor the runtime's."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and any(frame.f_globals is g for g in self.skip):
            frame = frame.f_back
        return frame

    def tracing_from_before(self) -> bool:
        """Whether tracing set up before the guard is at work in this thread.

        A thread started while ``threading.settrace`` had set a hook installs that hook;
        that hook (coverage.py's, for one), or a trace function that was already running,
        may switch tracers as it always did.
        """
        frame = self.caller()
        if frame is None:
            return False
        module = self.threading
        if (
            frame.f_code is self.bootstrap_inner
            and module is not None
            and getattr(module, "_trace_hook", None) is self.hooks["trace"]
            and getattr(module, "_profile_hook", None) is self.hooks["profile"]
        ):
            return True
        codes = self.trusted_codes
        while codes and frame is not None:
            if frame.f_code in codes:
                return True
            frame = frame.f_back
        return False

    def tracer_allowed(self, owner: str, kind: str, func: Any) -> bool:
        """Whether setting ``func`` through ``owner``'s function of this ``kind`` may pass."""
        if func is None or self.in_startup():
            return True  # switching tracing off observes nothing
        if func is self.hooks[kind]:
            return True  # the hook threading was told to use before the guard
        if owner == "sys":
            current = sys.gettrace() if kind == "trace" else sys.getprofile()
        else:
            current = getattr(self.threading, f"_{kind}_hook", None)
        return func is current or self.tracing_from_before()

    def tracer_patch(self, owner: str, function: str, kind: str) -> Callable[..., Any]:
        """The wrapper of one entry of :data:`TRACERS`."""

        def around(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            func = args[0] if args else kwargs.get("function", kwargs.get("func"))
            if self.live and not self.tracer_allowed(owner, kind, func):
                self.runtime.deny(
                    f"{owner}.{function}({_callable_name(func)})",
                    f"{owner}.{function}",
                    reason=REASON,
                    hint=hint("trace"),
                )
            return self.vouched(original, *args, **kwargs)

        return around

    def monitoring_patch(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``sys.monitoring.register_callback``: refuse a new callback (3.12+)."""
        func = args[2] if len(args) > 2 else kwargs.get("func")
        if self.live and not (func is None or self.in_startup() or self.tracing_from_before()):
            self.refused_profiler(func)  # _lsprof calls this wrapper too, through the module
            self.runtime.deny(
                f"sys.monitoring.register_callback({', '.join(_show(a) for a in args[:2])}, "
                f"{_callable_name(func)})",
                "sys.monitoring",
                reason=REASON,
                hint=hint("trace"),
            )
        return self.vouched(original, *args, **kwargs)

    def refused_profiler(self, callback: Any) -> None:
        """Remember to free the ``sys.monitoring`` tool of a C profiler being refused.

        3.12+'s ``_lsprof`` claims ``PROFILER_ID``, then registers its callbacks one by one
        without stopping at a refusal, and leaves the tool claimed: every later profiler
        would fail with "Another profiling tool is already active". The tool is freed at
        the guard's next check (the refusal itself must stay the error C reports).
        """
        owner = getattr(callback, "__self__", None)
        profiler = getattr(sys.modules.get("_lsprof"), "Profiler", None)
        if isinstance(profiler, type) and isinstance(owner, profiler):
            self.profiler_claimed = True

    def release_profiler(self) -> None:
        """Free the tool :meth:`refused_profiler` noted, if cProfile still holds it."""
        self.profiler_claimed = False
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is not None and monitoring.get_tool(monitoring.PROFILER_ID) == "cProfile":
            monitoring.free_tool_id(monitoring.PROFILER_ID)

    def on_trace(self, event: str, args: tuple[Any, ...]) -> None:
        """``sys.settrace``/``sys.setprofile`` events, raised by every way in, C included."""
        if not self.live or self.vouch.__dict__.get("depth") or self.in_startup():
            return
        if event == "sys.monitoring.register_callback":
            if not args or args[0] is None:
                return
            what = f"sys.monitoring.register_callback(..., {_callable_name(args[0])})"
            target = "sys.monitoring"
        else:
            what, target = f"{event}(...)", event
        if self.tracing_from_before():
            return
        if event == "sys.monitoring.register_callback":
            self.refused_profiler(args[0])
        self.runtime.deny(what, target, reason=REASON, hint=hint("trace"))

    # -- site and .pth files -----------------------------------------------------------
    def site_check(self, function: str) -> Callable[..., None]:
        """The check before one of :data:`SITE_FUNCTIONS`."""

        def check(*args: Any, **kwargs: Any) -> None:
            if not self.live or self.in_startup():
                return
            target = "site"
            if function == "addsitedir" and args:
                target = _path_text(args[0])
            elif function == "addpackage" and len(args) >= 2:
                target = _path_text(args[0], args[1])
            self.runtime.deny(
                f"site.{function}({', '.join(_show(a) for a in args)})",
                target,
                reason=REASON,
                hint=hint("site"),
            )

        return check

    def on_compile(self, _event: str, args: tuple[Any, ...]) -> None:
        """Refuse the ``import`` line of a ``.pth`` file that ``site.addpackage`` runs."""
        if not self.live:
            return
        frame = self.caller()
        if frame is None:
            return
        code = frame.f_code
        if code.co_name != "addpackage" or code.co_filename not in SITE_FILES:
            return
        if self.in_startup():
            return
        try:
            pth = frame.f_locals.get("fullname")
        except Exception:
            pth = None
        source = args[0] if args else ""
        if isinstance(source, (bytes, bytearray)):
            source = bytes(source).decode("utf-8", "replace")
        self.runtime.deny(
            f"run the .pth line {_show(source.strip() if isinstance(source, str) else source)}",
            pth if isinstance(pth, str) else "site",
            reason=REASON,
            hint=hint("site"),
        )

    # -- removal -----------------------------------------------------------------------
    def remove(self) -> None:
        """Put the original lists back, with the contents the guard let them have.

        A change made while the guard was installed that it could not refuse at once (a
        list replaced or changed without its methods, and no import since; the original
        list changed through a reference taken before the guard) is undone and reported.
        """
        if not self.live:
            return
        self.live = False
        if self.profiler_claimed:
            self.release_profiler()
        for attr, (guarded, content) in self.lists.items():
            name = "sys." + attr
            current = sys.__dict__.get(attr)
            original = self.originals[attr]
            problems = []
            if current is not guarded and not _live_guarded(current):
                if isinstance(current, list):
                    problems.append(f"{name} replaced by a list that {_change(content, current)}")
                else:
                    problems.append(f"{name} replaced by {_show(current)}")
            if not _same(guarded, content):
                problems.append(
                    f"{name} changed without its methods: it {_change(content, list(guarded))}"
                )
            if isinstance(original, list) and not _same(original, self.arm_contents[attr]):
                problems.append(
                    f"{name} changed through a reference taken before the guard: it "
                    f"{_change(self.arm_contents[attr], list(original))}"
                )
            if isinstance(original, list):
                list.__setitem__(original, slice(None), content)
            if current is guarded or not _live_guarded(current):
                setattr(sys, attr, original)
            for problem in problems:
                # Reported (traced and observed, e.g. by the pytest plugin), not raised: the
                # policy is being left.
                self.runtime.violation(problem, name, reason=REASON, hint=hint(name, undone=True))
        self.lists = {}
        self.watched = None


def _change(before: Any, after: Any) -> str:
    """What turned ``before`` into ``after``, for a message: ``adds '/x'``, ``reorders``."""
    added = [_show(x, 60) for x in after if not any(_equal(x, y) for y in before)]
    removed = [_show(x, 60) for x in before if not any(_equal(x, y) for y in after)]
    parts = []
    if added:
        parts.append("adds " + ", ".join(added))
    if removed:
        parts.append("drops " + ", ".join(removed))
    return " and ".join(parts) or "reorders it"


def _path_text(*parts: Any) -> str:
    """A path given as ``str``, ``bytes`` or ``PathLike`` (joined, made absolute), as text."""
    try:
        return os.path.abspath(os.path.join(*(os.fsdecode(p) for p in parts)))
    except Exception:
        return _show(parts[-1])


def _same_directory(target: Any) -> bool:
    """Whether changing to ``target`` (a path or a descriptor) would stay where we are."""
    try:
        there = os.fstat(target) if isinstance(target, int) else os.stat(target)
        here = os.stat(".")
    except (OSError, TypeError, ValueError):
        return False
    return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)


def install(options: dict[str, Any], runtime: Any) -> None:
    """Install one layer of the interpreter guard (its one option switches it on)."""
    if not options.get("block_interpreter_mutation"):
        return
    layer = Layer(runtime)
    runtime.interpreter_layer = layer
    try:
        if not layer.starting:
            layer.arm()
        else:
            for event in RUN_EVENTS:
                runtime.on_audit(event, layer.on_run)
        runtime.on_audit("import", layer.on_import)
        runtime.on_audit("exec", layer.on_import)
        runtime.on_audit("compile", layer.on_compile)
        runtime.on_audit("os.chdir", layer.on_chdir)
        runtime.on_audit("sys.settrace", layer.on_trace)
        runtime.on_audit("sys.setprofile", layer.on_trace)
        runtime.on_audit("sys.monitoring.register_callback", layer.on_trace)
        for owner, function, kind in TRACERS:
            if owner == "sys" and hasattr(sys, function):
                runtime.wrap(sys, function, layer.tracer_patch(owner, function, kind))
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is not None and hasattr(monitoring, "register_callback"):
            runtime.wrap(monitoring, "register_callback", layer.monitoring_patch)
        layer.patch_pending()
        for function in SITE_FUNCTIONS:
            if hasattr(site, function):
                runtime.check_before(site, function, layer.site_check(function))
    except BaseException:
        layer.remove()
        raise


def uninstall(runtime: Any) -> None:
    """Put back the lists this layer froze (the runtime handle removes the rest)."""
    layer = getattr(runtime, "interpreter_layer", None)
    if layer is not None:
        runtime.interpreter_layer = None
        layer.remove()
