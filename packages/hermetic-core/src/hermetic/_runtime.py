"""hermetic's runtime: the enforcement machinery shared by both delivery modes.

In-process this file is the module ``hermetic._runtime``. For the bootstrap, the assembler
copies its source verbatim to the top of a generated ``sitecustomize.py`` that runs in an
interpreter where hermetic may not be installed. So this module imports only the standard
library, keeps its start-up cost low (no ``typing``, ``threading`` or ``functools`` at run
time), and knows nothing about guards beyond the handle it gives each one.

It owns: the ``PolicyViolation`` type, ``trace`` output, the sealed flag, the single
process-wide audit hook with its per-event dispatch table, and reversible, layered
monkey-patches. Guards reach all of it through a :class:`GuardRuntime` handle.
"""

from __future__ import annotations

import _frozen_importlib
import _thread
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import CodeType
    from typing import Any, Callable, NoReturn

    AuditHandler = Callable[[str, tuple[Any, ...]], None]

try:
    # When hermetic is importable the bootstrap raises the very same class, so
    # ``except PolicyViolation`` behaves identically in both delivery modes.
    from hermetic.errors import HermeticError, PolicyViolation
except Exception:  # hermetic is not importable here (a foreign interpreter)

    class HermeticError(RuntimeError):  # type: ignore[no-redef]
        """Base for hermetic failures (bootstrap copy of ``hermetic.errors``)."""

    class PolicyViolation(HermeticError):  # type: ignore[no-redef]
        """Raised when a guard blocks an action (bootstrap copy)."""

        def __init__(
            self, message: str, *, guard: str | None = None, target: str | None = None
        ) -> None:
            super().__init__(message)
            self.guard = guard
            self.target = target


SELFTEST_EVENT = "hermetic.selftest"
#: How a sealed hook learns of handlers subscribed after it was sealed.
SUBSCRIBE_EVENT = "hermetic.subscribe"


class _Patch:
    """One layer of one patched attribute.

    ``previous`` is what the replacement delegates to; it is looked up at call time so a
    layer underneath can be removed (spliced out) while this one stays in place. ``hook``
    is the guard's check (or wrapper) that the replacement calls, read at call time too:
    a layer removed from the top of its attribute is kept as a spare, and the next layer
    of the same kind over the same original reuses it, replacement function and all, with
    the new guard's hook (see :meth:`Runtime._reuse`).
    """

    __slots__ = (
        "attr",
        "had",
        "hook",
        "key",
        "live",
        "owner",
        "previous",
        "raw",
        "replacement",
        "unbound",
    )

    def __init__(self, owner: Any, attr: str, key: Any, hook: Any, live: bool) -> None:
        namespace = vars(owner)
        self.owner = owner
        self.attr = attr
        raw = namespace.get(attr, _ABSENT)
        self.had = raw is not _ABSENT
        self.raw = None if raw is _ABSENT else raw
        self.previous: Any = getattr(owner, attr)
        self.replacement: Any = None
        self.live = live
        self.hook = hook
        self.key = key  # where a spare of this layer is kept; None: never reused
        # A callable without __get__ kept on a class (os.open on Python 3.9's
        # pathlib._NormalAccessor) is not bound to the instance it is called through;
        # the replacement, a function, is. Passing a call through, leave the instance out.
        self.unbound = isinstance(owner, type) and not hasattr(type(self.previous), "__get__")

    def passthrough(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call what this layer wraps, as if the layer were not there."""
        if self.unbound and args:
            args = args[1:]
        return self.previous(*args, **kwargs)


_ABSENT: Any = object()


def _reduce_as_policy_violation(self: PolicyViolation) -> tuple[Any, ...]:
    return (PolicyViolation, self.args[:1], dict(vars(self)))


def _copy_identity(wrapper: Any, wrapped: Any) -> None:
    # Deliberately no ``__wrapped__``: it would hand the original to anyone who asks.
    name = getattr(wrapped, "__name__", None)
    if isinstance(name, str):
        wrapper.__name__ = name
        qualname = getattr(wrapped, "__qualname__", name)
        wrapper.__qualname__ = qualname if isinstance(qualname, str) else name
    wrapper.__doc__ = getattr(wrapped, "__doc__", None)
    wrapper.__module__ = getattr(wrapped, "__module__", None)


class Runtime:
    """Process-wide enforcement state: audit dispatch, patches, trace and seal."""

    def __init__(self, *, hardened: bool = False) -> None:
        """``hardened``: sealing also seals the audit hook (see :meth:`seal`).

        The process's own runtime, :data:`RUNTIME`, is hardened. Tests make private,
        unhardened runtimes that they can seal and still clean up after.
        """
        self.trace = False
        self._sealed = False
        self._hardened = hardened
        # event name -> handlers. Mutated in place only: until the hook is sealed, it
        # closes over this very dict.
        self._handlers: dict[str, tuple[AuditHandler, ...]] = {}
        self._hook_live = False
        self._seal_hook: Callable[[], None] | None = None
        # Every layer in place, in the order it was made (a dict: removing the top layer,
        # the common case, needs no scan of the others).
        self._patches: dict[_Patch, None] = {}
        # Layers removed from the top of their attribute, by (owner, attr, kind): entering
        # the same blocker again patches the same originals, and putting a spare back costs
        # a setattr where a new layer builds a function and copies the original's identity.
        self._spare: dict[tuple[Any, str, str], _Patch] = {}
        self._suspended = False
        self._observers: tuple[Callable[[PolicyViolation], object], ...] = ()
        self._kinds: dict[type[BaseException], type[PolicyViolation]] = {}

    # -- seal ---------------------------------------------------------------------------
    @property
    def sealed(self) -> bool:
        """True once :meth:`seal` ran: nothing can be uninstalled any more."""
        return self._sealed

    def seal(self) -> None:
        """Freeze everything installed so far for the rest of the process.

        In a hardened runtime the audit hook is sealed as well: from now on it dispatches
        from a table of its own, which only grows, and it ignores suspension. Clearing
        this object's attributes (``_handlers``, ``_sealed``, ``_suspended``) then no
        longer disables the audit layer; only introspection (``gc``, frames) reaches the
        hook's own state.
        """
        if self._suspended:
            self.resume()  # a sealed process enforces: nothing may stay asleep
        self._sealed = True
        seal_hook, self._seal_hook = self._seal_hook, None
        if seal_hook is not None:
            seal_hook()

    # -- suspension ---------------------------------------------------------------------
    @property
    def suspended(self) -> bool:
        """True between :meth:`suspend` and :meth:`resume`."""
        return self._suspended

    def suspend(self) -> bool:
        """Let every installed patch and audit handler pass everything through.

        Nothing is removed: :meth:`resume` brings the same layers back for the cost of a
        flag per patch, where uninstalling and installing them again rebuilds every patch.
        Returns False, and does nothing, in a sealed process.
        """
        if self._sealed:
            return False
        self._suspended = True
        for record in self._patches:
            record.live = False
        return True

    def resume(self) -> None:
        """Make the layers :meth:`suspend` put to sleep enforce again."""
        self._suspended = False
        for record in self._patches:
            record.live = True

    # -- observers ----------------------------------------------------------------------
    def observe(self, observer: Callable[[PolicyViolation], object]) -> None:
        """Call ``observer(violation)`` for every violation made from now on.

        Observers see violations the code under test catches and never re-raises (the
        pytest plugin reports them). An observer must be quick and must not raise; an
        exception from it is ignored so that it never masks the violation.
        """
        self._observers = (*self._observers, observer)

    def unobserve(self, observer: Callable[[PolicyViolation], object]) -> None:
        """Stop calling ``observer``."""
        self._observers = tuple(o for o in self._observers if o != observer)

    # -- violations ---------------------------------------------------------------------
    def violation_class(self, kind: type[BaseException] | None = None) -> type[PolicyViolation]:
        """``PolicyViolation``, or a subclass that is also a ``kind`` (``ImportError``...).

        A refusal raised as the exception an API raises when the thing does not exist keeps
        code with a fallback working (``decimal`` falls back to ``_pydecimal`` on
        ``ImportError``), while ``except PolicyViolation``, trace and observers still see it.
        One class per kind, made once; pickled, an instance becomes a plain
        ``PolicyViolation`` (the subclass has no importable name).
        """
        if kind is None or issubclass(PolicyViolation, kind):
            return PolicyViolation
        found = self._kinds.get(kind)
        if found is None:
            made = type(
                "PolicyViolation",
                (PolicyViolation, kind),
                {
                    "__module__": PolicyViolation.__module__,
                    "__doc__": f"A PolicyViolation that is also a {kind.__name__}.",
                    "__reduce__": _reduce_as_policy_violation,
                },
            )
            found = self._kinds.setdefault(kind, made)
        return found

    def violation(
        self,
        guard: str,
        what: str,
        target: Any = None,
        reason: str | None = None,
        hint: str | None = None,
        kind: type[BaseException] | None = None,
    ) -> PolicyViolation:
        """Build (and trace) the exception for a blocked action; the caller raises it.

        ``kind`` makes it also an instance of that exception class (see
        :meth:`violation_class`).
        """
        message = f"{reason or guard + ' guard blocked'}: {what}"
        if hint:
            message += f" ({hint})"
        tgt = None if target is None else str(target)
        exc = self.violation_class(kind)(message, guard=guard, target=tgt)
        exc.what = what  # the short form the CLI prints
        if self.trace:
            line = f"hermetic: blocked {guard}: {what}"
            if tgt is not None and tgt not in what:
                line += f" ({tgt})"
            try:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            except Exception:
                pass
        for observer in self._observers:
            try:
                observer(exc)
            except Exception:
                pass
        return exc

    # -- audit layer --------------------------------------------------------------------
    def _ensure_hook(self) -> None:
        if self._hook_live:
            return
        # The hook closes over its state instead of reading it from this object: once
        # sealed, nothing reachable from here (or from the module) can switch it off.
        table = self._handlers
        # The threads running a handler now, by identity: a set costs half what a
        # threading.local flag does per event. A thread is in it only inside the hook, so
        # an identity is never reused while in it, except in a forked child, whose other
        # threads are gone (and whose new ones may get their identities): emptied there.
        busy: set[int] = set()
        ident = _thread.get_ident
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=busy.clear)
        runtime = self
        sealed = False

        def _hermetic_audit_hook(event: str, args: tuple[Any, ...]) -> None:
            # The fast path is this one test: it runs for every audited event in the
            # process, forever, whether or not a policy is active.
            if event not in table:
                return
            found = table.get(event)
            if found is None:
                return  # unsubscribed since, by another thread
            if not sealed and runtime._suspended and event != SELFTEST_EVENT:
                return
            me = ident()
            if me in busy:
                return  # an event raised by a handler's own work
            busy.add(me)
            try:
                for handler in found:
                    handler(event, args)
            finally:
                busy.discard(me)

        def seal_hook() -> None:
            nonlocal table, sealed
            private = dict(table)

            def add(_event: str, args: tuple[Any, ...]) -> None:
                if len(args) == 2 and isinstance(args[0], str) and callable(args[1]):
                    private[args[0]] = (*private.get(args[0], ()), args[1])

            # Later subscriptions (a stricter inner policy) reach the private table through
            # an audit event: this object keeps no reference to it. The event only adds.
            private[SUBSCRIBE_EVENT] = (add,)
            table = private
            sealed = True

        seen: list[Any] = []
        token = object()
        table[SELFTEST_EVENT] = (lambda _event, args: seen.append(args[0]),)
        try:
            sys.addaudithook(_hermetic_audit_hook)
            sys.audit(SELFTEST_EVENT, token)
        finally:
            del table[SELFTEST_EVENT]
        if token not in seen:
            # sys.addaudithook silently adds nothing when an existing hook objects.
            raise HermeticError(
                "hermetic could not add its audit hook (another audit hook refused it); "
                "refusing to run with guards that would be weaker than asked"
            )
        self._hook_live = True
        if self._hardened:
            if self._sealed:
                seal_hook()  # sealed before any guard subscribed to an event
            else:
                self._seal_hook = seal_hook

    def subscribe(self, event: str, handler: AuditHandler) -> None:
        """Call ``handler(event, args)`` for every audit ``event`` from now on."""
        if not self._hook_live:
            self._ensure_hook()
        handlers = self._handlers
        handlers[event] = (*handlers.get(event, ()), handler)
        if self._sealed and self._hardened:
            sys.audit(SUBSCRIBE_EVENT, event, handler)

    def unsubscribe(self, event: str, handler: AuditHandler) -> None:
        """Stop dispatching ``event`` to ``handler`` (a no-op once sealed)."""
        if not self._sealed:
            self._unsubscribe(((event, handler),))

    def _unsubscribe(self, subscriptions: Sequence[tuple[str, AuditHandler]]) -> None:
        # The caller checked the seal. The table is changed in place, one event at a time:
        # until the hook is sealed, it reads this very dict.
        table = self._handlers
        for event, handler in subscriptions:
            found = table.get(event)
            if found is None:
                continue
            if len(found) == 1 and found[0] is handler:
                del table[event]  # the common case: the only handler of its event
                continue
            remaining = tuple(h for h in found if h is not handler)
            if remaining:
                table[event] = remaining
            else:
                del table[event]

    @property
    def hook_live(self) -> bool:
        """True once the process-wide audit hook has been added and verified."""
        return self._hook_live

    def subscribed_events(self) -> tuple[str, ...]:
        """The audit events that currently have at least one handler."""
        return tuple(self._handlers)

    # -- patch layer --------------------------------------------------------------------
    def _layer(self, owner: Any, attr: str, key: Any = None, hook: Any = None) -> _Patch:
        """A new layer over ``owner.attr``, not yet in place (see :meth:`_put`)."""
        return _Patch(owner, attr, key, hook, not self._suspended)

    def _put(self, record: _Patch, replacement: Any) -> None:
        """Put ``replacement``, made for ``record``, in place of the attribute."""
        _copy_identity(replacement, record.previous)
        record.replacement = replacement
        setattr(record.owner, record.attr, replacement)
        self._patches[record] = None

    def _reuse(self, key: tuple[Any, str, str], hook: Any) -> _Patch | None:
        """Put back the spare layer kept for ``key`` with a new ``hook``, if it still fits.

        It fits when the attribute still resolves to what the spare wraps (then the
        replacement's name, binding and identity are right as they are). Returns None when
        there is no spare or it no longer fits: the caller makes a new layer.
        """
        try:
            record = self._spare.pop(key, None)
        except TypeError:  # an owner that cannot be hashed: it never has a spare
            return None
        if record is None or record.owner is not key[0]:
            return None
        owner, attr = key[0], key[1]
        raw = vars(owner).get(attr, _ABSENT)
        if getattr(owner, attr) is not record.previous:
            return None  # changed underneath since (a reload, a foreign patch): start afresh
        record.had = raw is not _ABSENT
        record.raw = None if raw is _ABSENT else raw
        record.hook = hook
        record.live = not self._suspended
        setattr(owner, attr, record.replacement)
        self._patches[record] = None
        return record

    def patch(self, owner: Any, attr: str, build: Callable[[_Patch], Any]) -> _Patch:
        """Replace ``owner.attr`` with ``build(record)``; undo with :meth:`unpatch`."""
        record = self._layer(owner, attr)
        self._put(record, build(record))
        return record

    def unpatch(self, record: _Patch) -> None:
        """Remove one patch layer, wherever it sits in the chain (a no-op once sealed)."""
        if not self._sealed:
            self._unpatch((record,))

    def _unpatch(self, records: Sequence[_Patch]) -> None:
        # The caller checked the seal. Records in the order they are removed.
        patches = self._patches
        for record in records:
            if patches.pop(record, _ABSENT) is _ABSENT:
                continue  # removed already
            record.live = False
            owner, attr = record.owner, record.attr
            if vars(owner).get(attr) is record.replacement:
                if record.had:
                    setattr(owner, attr, record.raw)
                else:
                    delattr(owner, attr)
                if record.key is not None:
                    try:
                        self._spare[record.key] = record
                    except TypeError:  # an owner that cannot be hashed: no spare
                        pass
                continue
            for above in patches:
                if above.owner is owner and above.attr == attr and above.raw is record.replacement:
                    # Splice this layer out: the one above now delegates to what we wrapped.
                    above.had, above.raw, above.previous = record.had, record.raw, record.previous
                    above.unbound = record.unbound
                    break
            # Otherwise foreign code patched over us: our replacement stays in its chain but
            # passes through.


class _ImportWatch:
    """A ``sys.meta_path`` entry that runs a callback each time one module is executed.

    It asks the finders after it for that module's spec and wraps the spec's loader, so
    the callback runs right after the module's body, before the import returns (and before
    any other thread can get the module from the import system). Other names cost one
    comparison.
    """

    __slots__ = ("callback", "live", "lock", "name")

    def __init__(self, name: str, callback: Callable[[Any], object]) -> None:
        self.name = name
        self.callback = callback
        self.live = True
        # Held while the callback runs: stop() waits for a callback under way in another
        # thread, so the patches it makes are undone with the layer, never left behind.
        self.lock = _thread.RLock()

    def __repr__(self) -> str:
        return f"<hermetic import watch for {self.name!r}>"

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """The spec the finders after this one find for ``name``, with a watched loader."""
        if name != self.name or not self.live:
            return None
        spec: Any = None
        after = False
        for finder in list(sys.meta_path):
            if not after:
                after = finder is self
                continue
            find = getattr(finder, "find_spec", None)
            if find is not None:
                spec = find(name, path, target)
            elif _find_spec_legacy is not None:  # Python < 3.12: find_module() only
                spec = _find_spec_legacy(finder, name, path)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec  # nothing to execute, or a legacy loader: left unwatched
        if type(loader) is _WatchedLoader and loader.watch is self:
            return spec  # a finder after this one asked the whole meta path again
        spec.loader = _WatchedLoader(loader, self)
        return spec

    def invalidate_caches(self) -> None:
        """Nothing is cached here (``importlib.invalidate_caches`` calls this)."""

    def fire(self, module: Any) -> None:
        with self.lock:
            if self.live:
                self.callback(module)

    def stop(self) -> None:
        """Run the callback never again, and leave ``sys.meta_path``."""
        with self.lock:
            self.live = False
        try:
            sys.meta_path.remove(self)
        except Exception:
            pass  # already gone, or refused by a frozen import list: it stays, inert


_find_spec_legacy = getattr(_frozen_importlib, "_find_spec_legacy", None)


class _WatchedLoader:
    """A module's loader, followed by an :class:`_ImportWatch`'s callback."""

    __slots__ = ("loader", "watch")

    def __init__(self, loader: Any, watch: _ImportWatch) -> None:
        self.loader = loader
        self.watch = watch

    def __getattr__(self, attr: str) -> Any:
        # get_code, get_source, get_resource_reader...: the real loader answers
        if attr in _WatchedLoader.__slots__ or attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.loader, attr)

    def create_module(self, spec: Any) -> Any:
        create = getattr(self.loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: Any) -> None:
        loader = self.loader
        try:
            loader.exec_module(module)
        finally:
            # The module keeps the loader it would have had: nothing of hermetic stays in it.
            spec = module.__dict__.get("__spec__")
            if getattr(spec, "loader", None) is self:
                spec.loader = loader
            if module.__dict__.get("__loader__") is self:
                module.__loader__ = loader
        self.watch.fire(module)


class GuardRuntime:
    """The ``runtime`` a guard's ``install(options, runtime)`` receives.

    One handle per installed layer of one guard: everything registered through it is
    undone together by :meth:`undo`, so two layers of the same guard can coexist while a
    policy changes (the new one is installed before the old one is removed, leaving no
    unguarded gap).
    """

    def __init__(self, core: Runtime, name: str) -> None:
        self.name = name
        self._core = core
        self._records: list[_Patch] = []
        self._subscriptions: list[tuple[str, AuditHandler]] = []
        self._watches: list[_ImportWatch] = []

    @property
    def trace(self) -> bool:
        """Whether blocked actions are reported on stderr."""
        return self._core.trace

    @property
    def sealed(self) -> bool:
        """Whether the process is sealed (nothing will ever be uninstalled)."""
        return self._core.sealed

    def violation(
        self,
        what: str,
        target: Any = None,
        *,
        reason: str | None = None,
        hint: str | None = None,
        kind: type[BaseException] | None = None,
    ) -> PolicyViolation:
        """Return a traced ``PolicyViolation`` for this guard; raise it yourself.

        With ``kind`` (``ModuleNotFoundError``, ``OSError``...) it is also an instance of
        that class, so code that falls back when the thing is missing keeps working.
        """
        return self._core.violation(self.name, what, target, reason, hint, kind)

    def deny(
        self,
        what: str,
        target: Any = None,
        *,
        reason: str | None = None,
        hint: str | None = None,
        kind: type[BaseException] | None = None,
    ) -> NoReturn:
        """Raise a ``PolicyViolation`` for this guard (also a ``kind``, when given)."""
        raise self._core.violation(self.name, what, target, reason, hint, kind)

    def check_before(self, owner: Any, attr: str, check: Callable[..., Any]) -> None:
        """Patch ``owner.attr`` so ``check(*args, **kwargs)`` runs before every call.

        ``check`` raises (usually through :meth:`deny`) to refuse the call; otherwise the
        original runs with the same arguments. For methods, ``args[0]`` is ``self``.
        """
        key = (owner, attr, "check_before")
        record = self._core._reuse(key, check)
        if record is None:
            record = self._core._layer(owner, attr, key, check)

            def hermetic_guarded(*args: Any, **kwargs: Any) -> Any:
                if record.live:
                    record.hook(*args, **kwargs)
                    return record.previous(*args, **kwargs)
                return record.passthrough(args, kwargs)

            self._core._put(record, hermetic_guarded)
        self._records.append(record)

    def wrap(self, owner: Any, attr: str, around: Callable[..., Any]) -> None:
        """Patch ``owner.attr`` with ``around(original, *args, **kwargs)``.

        For guards that change behaviour rather than only refusing (for example answering
        a lookup as absent). ``original`` is the callable this layer wraps.
        """
        key = (owner, attr, "wrap")
        record = self._core._reuse(key, around)
        if record is None:
            record = self._core._layer(owner, attr, key, around)

            def hermetic_wrapped(*args: Any, **kwargs: Any) -> Any:
                if record.live:
                    return record.hook(record.previous, *args, **kwargs)
                return record.passthrough(args, kwargs)

            self._core._put(record, hermetic_wrapped)
        self._records.append(record)

    def on_audit(self, event: str, handler: AuditHandler) -> None:
        """Subscribe ``handler(event, args)`` to a PEP 578 audit event.

        The audit layer outlives the patches: it sees captured references and C-level
        paths, and it keeps enforcing in a sealed process even if every patch is undone.
        """
        self._core.subscribe(event, handler)
        self._subscriptions.append((event, handler))

    def when_imported(self, name: str, callback: Callable[[Any], object]) -> None:
        """Call ``callback(module)`` once module ``name`` is imported: now, or when it is.

        For patching a module the guard must not import itself, so that a program that
        never uses it does not pay for its import. If ``name`` is in ``sys.modules`` (once
        another thread has finished importing it), the callback runs at once. Otherwise a
        finder first on ``sys.meta_path`` runs it each time the import system executes the
        module (its first import, ``importlib.reload``, an import after it was dropped from
        ``sys.modules``), right after the module's body, before the import returns; an
        exception from the callback fails that import. What the callback patches through
        this handle belongs to this layer and is undone with it; :meth:`undo` takes the
        finder off ``sys.meta_path``. Until the module is imported, audit handlers are what
        enforces.
        """
        module = sys.modules.get(name)
        if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
            manager = getattr(_frozen_importlib, "_ModuleLockManager", None)
            # The module's import lock: a thread importing it now finishes first (the module
            # is then in sys.modules), and one starting later finds the watch in place.
            with manager(name) if manager is not None else _thread.allocate_lock():
                module = sys.modules.get(name)
                if module is None:
                    watch = _ImportWatch(name, callback)
                    sys.meta_path.insert(0, watch)
                    self._watches.append(watch)
                    return
        callback(module)

    def undo(self) -> None:
        """Remove every patch and audit handler of this layer (a no-op once sealed)."""
        core = self._core
        if core._sealed:
            return
        for watch in self._watches:
            watch.stop()  # first: a callback under way ends, and its patches are undone below
        core._unpatch(self._records[::-1])
        core._unsubscribe(self._subscriptions)
        self._records = []
        self._subscriptions = []
        self._watches = []


RUNTIME = Runtime(hardened=True)


# -- bootstrap ----------------------------------------------------------------------------
# Everything below runs only inside a generated sitecustomize.py; it is here (not in the
# assembler's template) so that it is one piece of ordinary, tested Python.


def _leave_sys_path(here: str) -> None:
    """Drop the bootstrap's directory from ``sys.path`` (it stays in ``PYTHONPATH``).

    Done before any guard is installed: the interpreter guard refuses ``sys.path`` changes.
    """
    real_here = os.path.realpath(here)
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != real_here]


def _chain_sitecustomize() -> None:
    """Import the sitecustomize this interpreter would have loaded without hermetic."""
    own = sys.modules.pop("sitecustomize", None)
    try:
        __import__("sitecustomize")
    except ImportError as exc:
        if exc.name != "sitecustomize":
            _report_chain_error(exc)
    except Exception as exc:
        _report_chain_error(exc)
    finally:
        if "sitecustomize" not in sys.modules and own is not None:
            sys.modules["sitecustomize"] = own


def _report_chain_error(exc: BaseException) -> None:
    # The same tolerance site.py shows a broken sitecustomize: say so and carry on.
    sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n")
    sys.stderr.write(f"{type(exc).__name__}: {exc}\n")


def _install_excepthook(exit_code: int) -> None:
    """End the process with ``exit_code`` and one line when a violation is uncaught."""
    previous = sys.excepthook

    def hermetic_excepthook(kind: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, PolicyViolation):
            previous(kind, value, tb)
            return
        if RUNTIME.trace:
            previous(kind, value, tb)
        what = getattr(value, "what", None) or str(value)
        try:
            sys.stderr.write(f"hermetic: blocked {value.guard or 'policy'}: {what}\n")
        except Exception:
            pass
        try:
            import atexit

            atexit._run_exitfuncs()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(exit_code)

    sys.excepthook = hermetic_excepthook


def _boot(
    policy: dict[str, Any],
    fragments: Sequence[tuple[str, str, str]],
    origin: str,
    load_code: Callable[[str, str, str, str, bool], CodeType],
) -> None:
    """Install the embedded policy; called at the end of a generated sitecustomize.py.

    ``fragments`` holds ``(guard name, source digest, source)`` per enabled guard and
    ``policy["guards"]`` the options for each; ``load_code`` is the loader at the head of
    the generated file. A guard that cannot be installed ends the process (exit 2): never
    run the target weaker than asked.
    """
    here = os.path.dirname(os.path.abspath(origin))
    always = bool(policy.get("code_cache_always"))
    options = policy["guards"]
    RUNTIME.trace = bool(policy.get("trace"))
    current = ""
    try:
        # Compile and execute every fragment before installing any of them: an installed
        # code-exec or filesystem guard would otherwise refuse the loading itself.
        namespaces = []
        for name, digest, source in fragments:
            current = name
            namespace: dict[str, Any] = {"__name__": "hermetic_guard_" + name}
            exec(load_code(here, name, digest, source, always), namespace)
            namespaces.append((name, namespace))
        _leave_sys_path(here)
        for name, namespace in namespaces:
            current = name
            namespace["install"](dict(options[name]), GuardRuntime(RUNTIME, name))
    except Exception as exc:
        sys.stderr.write(
            f"hermetic: bootstrap failed: guard {current!r} could not be installed: "
            f"{type(exc).__name__}: {exc}\n"
        )
        sys.stderr.flush()
        os._exit(2)
    if policy.get("sealed"):
        RUNTIME.seal()
    exit_code = policy.get("violation_exit_code")
    if exit_code is not None:
        _install_excepthook(int(exit_code))
    _chain_sitecustomize()
