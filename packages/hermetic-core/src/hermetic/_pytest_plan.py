"""The pytest plugin's policies: the suite's, and each test's from its markers.

The suite policy comes from the command line, the ini file and profiles. A test's policy
is the suite policy (less the guards a ``hermetic_off`` marker switches off) merged,
stricter wins, with every ``hermetic`` marker on the test, its class and its module. Plans
are computed once per distinct set of markers, and the blocker for each distinct policy
is built once: activating a test's policy is then entering a ready blocker.
"""

from __future__ import annotations

import pytest

from hermetic.blocker import HermeticBlocker, hermetic_blocker
from hermetic.errors import PolicyError
from hermetic.policy import BlockConfig
from hermetic.pytest_plugin import PLAN
from hermetic.registry import CORE_OPTIONS, FIRST_PARTY, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from hermetic._pytest_options import Settings

MARKER = "hermetic"
OFF_MARKER = "hermetic_off"
_CORE = frozenset(name for name, _flag, _help in CORE_OPTIONS)
_NAMES = (MARKER, OFF_MARKER)


class Suite:
    """The policy every test gets, and how it is applied.

    Attributes:
        config: the suite policy, or None when none was asked for.
        sealed: the policy is sealed: active for the whole session, from configuration on.
        scope: ``"call"`` or ``"test"`` (see ``--hermetic-scope``).
        off: ``--hermetic-off``: no policy from options, ini or markers.
    """

    def __init__(self, config: BlockConfig | None, scope: str, off: bool) -> None:
        """Record a validated suite policy."""
        self.config = config
        self.sealed = bool(config is not None and config.sealed)
        self.scope = scope
        self.off = off

    @property
    def active(self) -> bool:
        """True when the suite policy switches at least one guard on."""
        return self.config is not None and any(True for _ in self.config.enabled_guards())

    def describe(self) -> str:
        """One line for the report header."""
        if self.off:
            return "off (--hermetic-off)"
        if self.config is None:
            return "no suite policy"
        trace = "; trace on" if self.config.trace else ""
        if not self.active:
            return f"no suite policy{trace}"
        shown = {k: v for k, v in sorted(self.config.values.items()) if k not in _CORE}
        text = ", ".join(f"{k}={v!r}" for k, v in shown.items()) + trace
        if self.sealed:
            return f"{text} (sealed: active for the whole session)"
        where = "each test's call" if self.scope == "call" else "each test's setup, call, teardown"
        return f"{text} (active during {where})"


def build_suite(settings: Settings) -> Suite:
    """Validate what the options ask for; raise ``pytest.UsageError`` with the reason."""
    if settings.empty:
        return Suite(None, settings.scope, settings.off)
    try:
        config = hermetic_blocker(profile=settings.profiles, **settings.options).config
    except (PolicyError, TypeError) as exc:
        raise pytest.UsageError(f"hermetic: {exc}") from None
    enabled = {guard.name for guard in config.enabled_guards()}
    if not enabled and config.sealed:
        raise pytest.UsageError("hermetic: --hermetic-seal needs a policy that switches a guard on")
    reg = registry()
    for name, source in settings.given.items():
        if name in _CORE:
            continue
        guard, option = reg.lookup(name)
        if not option.enables and guard.name not in enabled:
            switches = ", ".join(
                f"--hermetic-{flag[2:]}" for o in guard.options if o.enables for flag in o.flags
            )
            raise pytest.UsageError(
                f"hermetic: {_shown(source)} does nothing unless the {guard.name} guard is on "
                f"({switches or 'its switch'}, or a profile that switches it on)"
            )
    if settings.off and config.sealed:
        raise pytest.UsageError("hermetic: --hermetic-off is refused: the suite policy is sealed")
    return Suite(config, settings.scope, settings.off)


def _shown(source: str) -> str:
    return source if source.startswith("--") else f"the ini key {source}"


class ItemPlan:
    """What the plugin does for one test.

    Attributes:
        config: the test's policy (None: none).
        blocker: the blocker to enter around the test (None: nothing to activate).
        error: why the test is refused (a bad marker, an opt-out under a sealed policy).
    """

    __slots__ = ("blocker", "config", "error")

    def __init__(
        self,
        config: BlockConfig | None = None,
        blocker: HermeticBlocker | None = None,
        error: str | None = None,
    ) -> None:
        """Describe one test's plan."""
        self.config = config
        self.blocker = blocker
        self.error = error


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a marker argument (lists become tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    hash(value)
    return value


def _show_mark(mark: Any) -> str:
    args = [repr(a) for a in mark.args] + [f"{k}={v!r}" for k, v in mark.kwargs.items()]
    return f"@pytest.mark.{mark.name}({', '.join(args)})"


def mark_config(mark: Any) -> BlockConfig:
    """The policy of one ``hermetic`` marker: profiles positionally, options by keyword."""
    options = dict(mark.kwargs)
    profiles: list[Any] = list(mark.args)
    extra = options.pop("profile", None)
    if isinstance(extra, str):
        profiles.append(extra)
    elif extra is not None:
        profiles.extend(extra)
    for name in profiles:
        if not isinstance(name, str):
            raise PolicyError(f"profile names are strings, not {name!r}")
    if options.get("sealed"):
        raise PolicyError(
            "sealed=True belongs to the suite policy (--hermetic-seal or hermetic_seal): "
            "sealing the test process from one test would seal every test after it"
        )
    if not profiles and not options:
        raise PolicyError(
            "the marker needs a policy: options such as block_network=True or a profile name"
        )
    return hermetic_blocker(profile=profiles, **options).config


def _guard_names(mark: Any) -> frozenset[str]:
    known = set(registry().guards) | {row[1] for row in FIRST_PARTY}
    for name in mark.args:
        if not isinstance(name, str) or name not in known:
            raise PolicyError(
                f"{name!r} is not a guard; guards: {', '.join(sorted(registry().guards))}"
            )
    return frozenset(mark.args)


def _without(config: BlockConfig, guards: frozenset[str]) -> BlockConfig:
    options = registry().options
    kept = {}
    for key, value in config.values.items():
        found = options.get(key)
        if found is None or found[0].name not in guards:
            kept[key] = value
    return BlockConfig._from_values(kept)


def _enables(config: BlockConfig) -> bool:
    return any(True for _ in config.enabled_guards())


class Planner:
    """Turns each test's markers into an :class:`ItemPlan`, caching by markers."""

    def __init__(self, suite: Suite) -> None:
        """Plan tests against ``suite``."""
        self.suite = suite
        self._plans: dict[Any, ItemPlan | None] = {}
        self._parents: dict[Any, bool] = {}
        self._blockers: dict[BlockConfig, HermeticBlocker] = {}
        base = suite.config
        self._base = (
            ItemPlan(base, self._blocker(base)) if base is not None and suite.active else None
        )
        if suite.sealed:
            self._base = ItemPlan(base)  # already active for the whole session

    def _blocker(self, config: BlockConfig) -> HermeticBlocker:
        found = self._blockers.get(config)
        if found is None:
            found = self._blockers[config] = HermeticBlocker(config)
        return found

    def _marked(self, node: Any) -> bool:
        """Whether ``node`` or a parent carries a hermetic marker (parents memoised)."""
        if any(mark.name in _NAMES for mark in node.own_markers):
            return True
        parent = node.parent
        if parent is None:
            return False
        found = self._parents.get(parent)
        if found is None:
            found = self._parents[parent] = self._marked(parent)
        return found

    def plan(self, item: pytest.Item) -> ItemPlan | None:
        """The plan for ``item`` (None: the plugin leaves it alone)."""
        if not self._marked(item):
            return self._base
        marks = list(item.iter_markers(MARKER))
        offs = list(item.iter_markers(OFF_MARKER))
        if not marks and not offs:
            return self._base
        try:
            key: Any = (
                tuple((_freeze(m.args), _freeze(dict(m.kwargs))) for m in marks),
                tuple(_freeze(m.args) for m in offs),
            )
        except TypeError:
            return self._compute(marks, offs)
        if key not in self._plans:
            self._plans[key] = self._compute(marks, offs)
        return self._plans[key]

    def _compute(self, marks: Iterable[Any], offs: list[Any]) -> ItemPlan | None:
        suite = self.suite
        config = suite.config
        current = None
        try:
            if offs:
                current = offs[0]
                if suite.sealed:
                    raise PolicyError(
                        "refused: the suite policy is sealed (--hermetic-seal), so no test "
                        "can opt out of it"
                    )
                names: frozenset[str] = frozenset()
                whole = False
                for mark in offs:
                    current = mark
                    if mark.args:
                        names |= _guard_names(mark)
                    else:
                        whole = True
                config = None if whole or config is None else _without(config, names)
            for mark in marks:
                current = mark
                own = mark_config(mark)
                config = own if config is None else config | own
        except (PolicyError, TypeError) as exc:
            return ItemPlan(error=f"hermetic: {_show_mark(current)}: {exc}")
        if suite.sealed:
            assert suite.config is not None and config is not None
            if config.guard_options() != suite.config.guard_options():
                return ItemPlan(
                    error=f"hermetic: {_show_mark(current)}: refused: the suite policy is "
                    "sealed, and a sealed process cannot change its policy for one test "
                    "(tightening it would last for every test after this one); put the "
                    "options in the suite policy instead"
                )
            return ItemPlan(config)
        if config is None or not _enables(config):
            return ItemPlan(config) if config is not None else None
        return ItemPlan(config, self._blocker(config))


__all__ = [
    "MARKER",
    "OFF_MARKER",
    "PLAN",
    "ItemPlan",
    "Planner",
    "Suite",
    "build_suite",
    "mark_config",
]
