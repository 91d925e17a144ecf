"""The stack of active policies and the guard layers installed to enforce it.

Every change to the stack (a blocker entered or exited, ``install_all``, ``uninstall_all``)
recomputes the effective policy and reconciles the installed guards with it: a guard whose
options changed gets its new layer installed *before* the old one is removed, so there is
no moment without a guard. Once the runtime is sealed nothing is removed any more: entries
stay on the stack and new layers are added on top, so a policy can only get stricter. The
common cases, a policy entered while nothing is installed (its plan known from an earlier
entry) and the only policy left, take short paths to the same result.
"""

from __future__ import annotations

import _thread

from hermetic._runtime import RUNTIME, GuardRuntime
from hermetic.errors import HermeticError
from hermetic.policy import BlockConfig
from hermetic.registry import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hermetic.contract import Guard
    from hermetic.registry import Registry

    # (effective policy, {guard: options}, trace, sealed)
    Plan = tuple[BlockConfig, dict[str, dict[str, Any]], bool, bool]


class Entry:
    """One policy on the stack (identity matters: the same config may be pushed twice)."""

    __slots__ = ("config",)

    def __init__(self, config: BlockConfig) -> None:
        """Wrap ``config`` as a stack entry."""
        self.config = config


class _Layer:
    __slots__ = ("_parkable", "guard", "handle", "options")

    def __init__(self, guard: Guard, options: dict[str, Any], handle: GuardRuntime) -> None:
        self.guard = guard
        self.options = options
        self.handle = handle
        self._parkable: bool | None = None

    @property
    def parkable(self) -> bool:
        """Whether this layer can be parked (worked out when first asked: only parking does)."""
        if self._parkable is None:
            # A guard with an uninstall hook of its own keeps state the runtime cannot
            # suspend.
            self._parkable = not self.guard.has_own_uninstall()
        return self._parkable


class Activation:
    """The process-wide policy stack."""

    def __init__(self) -> None:
        """Start with nothing active."""
        self._lock = _thread.RLock()
        self._entries: list[Entry] = []
        self._layers: dict[str, list[_Layer]] = {}
        # The effective policy and per-guard options for each stack of configs seen so far:
        # entering and leaving the same blockers again (a decorated function, a test suite)
        # then costs a dictionary lookup instead of a merge.
        self._plans: dict[tuple[BlockConfig, ...], Plan] = {}
        self._plans_for: Registry | None = None
        # keep_installed(): while kept, an emptied stack parks its layers (suspended, not
        # removed); _parked holds their options until they are resumed or dropped.
        self._keep = 0
        self._parked: dict[str, dict[str, Any]] | None = None
        # The plan last applied, and (config, plan) of a one-policy stack whose layers are
        # parked: leaving and entering that one policy again is the common case, and it
        # takes the short paths in pop() and push().
        self._applied: Plan | None = None
        self._resume: tuple[BlockConfig, Plan] | None = None

    def _plan(self) -> Plan:
        key = tuple(entry.config for entry in self._entries)
        reg = registry()
        if reg is not self._plans_for:
            self._plans.clear()
            self._plans_for = reg
        plan = self._plans.get(key)
        if plan is None:
            merged = BlockConfig._from_values({})
            for config in key:
                merged = merged | config
            plan = (merged, merged.guard_options(), bool(merged.trace), bool(merged.sealed))
            if len(self._plans) >= 256:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def effective(self) -> BlockConfig:
        """The merge (stricter wins) of every policy on the stack."""
        with self._lock:
            return self._plan()[0]

    def installed(self) -> dict[str, dict[str, Any]]:
        """``{guard name: options}`` of the newest layer of each installed guard."""
        with self._lock:
            if self._parked is not None:
                return {}  # parked layers enforce nothing
            return {name: dict(layers[-1].options) for name, layers in self._layers.items()}

    def keep_installed(self, keep: bool) -> None:
        """Opt in (``True``) to parking layers when the stack empties; ``False`` opts out.

        While kept, leaving the last active policy suspends the installed guards instead of
        removing them (their patches and audit handlers pass everything through), and the
        next policy that needs exactly the same layers resumes them: entering and leaving
        one policy over and over (a test runner activating the same policy for every test)
        costs a flag per patch instead of reinstalling every patch. Only guards that do
        everything through their runtime handle are parked; one whose patch module has an
        ``uninstall`` hook of its own is removed as usual. Calls nest; when the last keeper
        opts out, parked layers are removed for real. Parked patches stay in place
        meanwhile (inert), so code that compares an attribute with its original sees the
        difference: that is why this is opt-in.
        """
        with self._lock:
            if keep:
                self._keep += 1
                return
            self._keep = max(0, self._keep - 1)
            if not self._keep and self._parked is not None:
                self._drop_parked()

    def _drop_parked(self) -> None:
        # Removed while still suspended, so no parked layer enforces anything on its way out.
        self._parked = self._resume = None
        for name in list(self._layers):
            for old in self._layers.pop(name):
                old.guard.uninstall(old.handle)
        RUNTIME.resume()

    def push(self, config: BlockConfig) -> Entry:
        """Activate ``config`` on top of the stack; undo the push if a guard fails."""
        entry = Entry(config)
        with self._lock:
            resume = self._resume
            if (
                resume is not None
                and resume[0] is config
                and not self._entries
                and self._plans_for is registry()
            ):
                # The one policy whose layers are parked: wake them up.
                self._entries.append(entry)
                self._resume = self._parked = None
                RUNTIME.resume()
                self._applied = plan = resume[1]
                RUNTIME.trace = plan[2]
                if plan[3]:
                    RUNTIME.seal()
                return entry
            self._entries.append(entry)
            try:
                fresh = self._fresh_plan(config)
                if fresh is None:
                    self._reconcile()
                else:
                    self._install_fresh(fresh)
            except BaseException:
                self._entries.remove(entry)
                try:
                    self._reconcile()  # put back exactly what was active before the push
                except Exception:
                    pass  # the original error is the one worth reporting
                raise
        return entry

    def pop(self, entry: Entry) -> None:
        """Deactivate ``entry`` (a no-op in a sealed process: the policy is frozen)."""
        with self._lock:
            if RUNTIME.sealed or entry not in self._entries:
                return
            applied = self._applied
            if (
                self._keep
                and applied is not None
                and len(self._entries) == 1
                and self._layers
                and all(layers[-1].parkable for layers in self._layers.values())
                and RUNTIME.suspend()
            ):
                # Leaving the only policy: park its layers, remember how to wake them.
                self._entries.clear()
                RUNTIME.trace = False
                self._parked = applied[1]
                self._resume = (entry.config, applied)
                self._applied = None
                return
            if not self._keep and len(self._entries) == 1:
                # Leaving the only policy: every layer goes, nothing is left to reconcile.
                self._entries.clear()
                self._applied = self._resume = None
                RUNTIME.trace = False
                for name in list(self._layers):
                    for old in self._layers.pop(name):
                        old.guard.uninstall(old.handle)
                return
            self._entries.remove(entry)
            self._reconcile()

    def _fresh_plan(self, config: BlockConfig) -> Plan | None:
        """The plan of a stack that is just ``config`` over nothing installed, if known.

        That is the common case (a blocker entered while no other one is active): its
        layers are installed without comparing them with any; None sends the caller to
        :meth:`_reconcile`.
        """
        if len(self._entries) != 1 or self._layers or self._parked is not None:
            return None
        if self._plans_for is not registry() or RUNTIME.sealed:
            return None
        return self._plans.get((config,))

    def _install_fresh(self, plan: Plan) -> None:
        # What _reconcile does for a known plan when nothing is installed, without the
        # comparisons; its error handling is push's.
        _effective, desired, trace, seal = plan
        self._applied = plan
        self._resume = None
        RUNTIME.trace = trace
        guards = registry().guards
        _load(guards, desired)
        for name, options in desired.items():
            self._layers[name] = [self._install(guards[name], name, options)]
        if seal:
            RUNTIME.seal()

    def _install(self, guard: Guard, name: str, options: dict[str, Any]) -> _Layer:
        handle = GuardRuntime(RUNTIME, name)
        try:
            guard.install(options, handle)
        except Exception as exc:
            handle.undo()
            raise _not_installed(guard, name, exc) from exc
        return _Layer(guard, options, handle)

    def clear(self) -> None:
        """Deactivate everything (a no-op in a sealed process)."""
        with self._lock:
            if RUNTIME.sealed:
                return
            self._entries.clear()
            self._reconcile()

    def _reconcile(self) -> None:
        plan = self._plan()
        _effective, desired, trace, seal = plan
        self._applied = plan
        self._resume = None
        parked = self._parked
        if parked is not None:
            if not desired:
                return
            if desired == parked:
                self._parked = None
                RUNTIME.resume()
                RUNTIME.trace = trace
                if seal:
                    RUNTIME.seal()
                return
            # Keep the parked layers that are wanted as they are; remove the others while
            # still suspended. The loop below installs whatever is missing.
            self._parked = None
            for name in [n for n in self._layers if parked.get(n) != desired.get(n)]:
                for old in self._layers.pop(name):
                    old.guard.uninstall(old.handle)
            RUNTIME.resume()
        RUNTIME.trace = trace
        guards = registry().guards
        _load(guards, desired)
        for name, options in desired.items():
            layers = self._layers.get(name, [])
            if layers and layers[-1].options == options:
                continue
            layer = self._install(guards[name], name, options)
            if not RUNTIME.sealed:
                for old in layers:
                    old.guard.uninstall(old.handle)
                layers = []
            self._layers[name] = [*layers, layer]
        if RUNTIME.sealed:
            return
        if not desired and self._keep and self._layers and RUNTIME.suspend():
            # A guard with an uninstall hook of its own keeps state the runtime cannot
            # suspend: remove it for real. Everything else sleeps until the next policy.
            for name in [n for n, layers in self._layers.items() if not layers[-1].parkable]:
                for old in self._layers.pop(name):
                    old.guard.uninstall(old.handle)
            if self._layers:
                self._parked = {name: layers[-1].options for name, layers in self._layers.items()}
                return
            RUNTIME.resume()
        for name in [n for n in self._layers if n not in desired]:
            for old in self._layers.pop(name):
                old.guard.uninstall(old.handle)
        if seal:
            RUNTIME.seal()


def _load(guards: dict[str, Guard], desired: dict[str, dict[str, Any]]) -> None:
    """Import the patch module of every guard in ``desired`` before any is installed.

    The bootstrap does the same: a guard already installed (code_exec, imports, the
    filesystem) must never refuse the loading of another one.
    """
    for name in desired:
        guard = guards[name]
        try:
            guard._module()
        except Exception as exc:
            raise _not_installed(guard, name, exc) from exc


def _not_installed(guard: Guard, name: str, exc: Exception) -> HermeticError:
    return HermeticError(
        f"guard {name!r} could not be installed: {type(exc).__name__}: {exc} "
        f"(reinstall {guard.distribution or 'the distribution that provides it'})"
    )


ACTIVATION = Activation()
