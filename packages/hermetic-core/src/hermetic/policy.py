"""Policies: which guards run, with which options, and how stacked policies merge.

A :class:`BlockConfig` holds the option values one blocker (or one CLI run) asks for, by
canonical option name. Every option is declared by an installed guard (or is one of the
core options ``trace`` and ``sealed``); values are type-checked and normalised when the
config is created, so a bad policy fails there and never runs weaker than asked.

Merging is per guard and stricter-wins: a guard's options come only from the policies that
switch it on (an allow-list in a policy that does not block the network widens nothing),
combined with each option's merge rule.
"""

from __future__ import annotations

import os

from hermetic.contract import OR, Guard, Option
from hermetic.errors import PolicyError
from hermetic.registry import CORE_OPTIONS, FIRST_PARTY, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any, TypeVar

    _C = TypeVar("_C", bound="BlockConfig")

_CORE = tuple(name for name, _flag, _help in CORE_OPTIONS)


class BlockConfig:
    """The policy one blocker contributes: option values by canonical name.

    Build it from keywords (``BlockConfig(block_network=True, allow_localhost=True)``) or
    with :meth:`from_kwargs`; aliases such as ``no_network`` are accepted. Read options as
    attributes (``cfg.block_network``); unset ones read as their declared default. Configs
    are immutable; ``a | b`` (or ``a.merged_with(b)``) is the stricter combination.
    """

    __slots__ = ("_hash", "_values")

    def __init__(self, **options: Any) -> None:
        """Validate ``options`` against the installed guards' declarations."""
        self._values: dict[str, Any] = _validate(options)

    @classmethod
    def from_kwargs(cls: type[_C], **options: Any) -> _C:
        """Build a config from keyword options (aliases accepted); same as the constructor."""
        return cls(**options)

    @classmethod
    def _unchecked(cls: type[_C], **options: Any) -> _C:
        """A config that is validated only when used (profiles are defined before discovery)."""
        cfg = cls.__new__(cls)
        cfg._values = dict(options)
        return cfg

    @classmethod
    def _from_values(cls: type[_C], values: Mapping[str, Any]) -> _C:
        cfg = cls.__new__(cls)
        cfg._values = dict(values)
        return cfg

    # -- reading ------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """The explicitly set options, by canonical name (a copy)."""
        return dict(self._values)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._values
        if name in values:
            return values[name]
        if name in _CORE:
            return False
        found = registry().options.get(name)
        if found is not None:
            option = found[1]
            return values.get(option.name, option.default)
        for _dist, _guard, names, _flags in FIRST_PARTY:
            if name in names:
                return None  # a first-party option whose guard is not installed: unset
        raise AttributeError(f"BlockConfig has no option {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in ("_values", "_hash"):
            raise AttributeError("BlockConfig is immutable; use replace() or |")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BlockConfig):
            return NotImplemented
        return self._values == other._values

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(tuple(sorted(self._values.items())))
            return self._hash

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"{type(self).__name__}({inner})"

    def __bool__(self) -> bool:
        return any(self._values.values())

    def replace(self, **options: Any) -> BlockConfig:
        """A copy with ``options`` set (validated) on top of this config's values."""
        return type(self)(**{**self._values, **options})

    # -- guards -------------------------------------------------------------------------
    def enabled_guards(self) -> Iterator[Guard]:
        """The installed guards this policy switches on, in discovery order."""
        for guard in registry().guards.values():
            if guard.enabled(self._values):
                yield guard

    def guard_options(self) -> dict[str, dict[str, Any]]:
        """``{guard name: every option of that guard}`` for each guard switched on."""
        return {g.name: g.full_options(self._values) for g in self.enabled_guards()}

    def check_installed(self) -> BlockConfig:
        """Validate an unchecked config (a profile) against the installed guards."""
        return type(self)(**self._values)

    # -- merging ------------------------------------------------------------------------
    def merged_with(self, other: BlockConfig) -> BlockConfig:
        """The stricter combination of two policies (also ``self | other``)."""
        a, b = self._values, other._values
        out: dict[str, Any] = {}
        for name in _CORE:
            if name in a or name in b:
                out[name] = bool(a.get(name) or b.get(name))
        reg = registry()
        handled = set(out)
        for guard in _guards_of(reg, (*a, *b)):
            on_a, on_b = guard.enabled(a), guard.enabled(b)
            for option in guard.options:
                key = option.name
                handled.add(key)
                if on_a and on_b:
                    out[key] = option.combine(
                        a.get(key, option.default), b.get(key, option.default)
                    )
                elif on_a or on_b:
                    source = a if on_a else b
                    if key in source:
                        out[key] = source[key]
                elif key in a or key in b:
                    out[key] = _combine_set(option, a, b)
        for key in (*a, *b):  # options of guards that are not installed (unchecked configs)
            if key not in handled:
                out[key] = b.get(key, a.get(key))
        return type(self)._from_values(out)

    def overlay(self, explicit: BlockConfig) -> BlockConfig:
        """This policy refined by the options of ``explicit``, given in the same declaration.

        How options given next to profiles combine with them (``hermetic --profile
        net-hermetic --allow-domain api.example.com``, ``hermetic_blocker(profile=...,
        allow_write=[...])``): a switch that blocks stays on if either has it on; every
        other option ``explicit`` sets replaces this policy's value, so an allow-list given
        with a profile allows what it names. Stacking *separate* policies (nested blockers,
        a pytest marker over the suite policy) uses :meth:`merged_with` instead, where
        stricter always wins.
        """
        out = dict(self._values)
        reg = registry()
        for key, value in explicit._values.items():
            if key in _CORE:
                out[key] = bool(out.get(key) or value)
                continue
            found = reg.options.get(key)
            if found is not None and found[1].merge == OR and key in out:
                value = bool(out[key] or value)
            out[key] = value
        return type(self)._from_values(out)

    def __or__(self, other: BlockConfig) -> BlockConfig:
        if not isinstance(other, BlockConfig):
            return NotImplemented
        return self.merged_with(other)


def _combine_set(option: Option, a: Mapping[str, Any], b: Mapping[str, Any]) -> Any:
    if option.name in a and option.name in b:
        return option.combine(a[option.name], b[option.name])
    return a[option.name] if option.name in a else b[option.name]


def _guards_of(reg: Any, keys: tuple[str, ...]) -> list[Guard]:
    seen: dict[str, Guard] = {}
    for key in keys:
        found = reg.options.get(key)
        if found is not None:
            seen.setdefault(found[0].name, found[0])
    return list(seen.values())


def _validate(options: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    reg = registry()
    for key, value in options.items():
        if key in _CORE:
            if not isinstance(value, bool):
                raise PolicyError(f"{key} must be True or False, not {value!r}")
            values[key] = value
            continue
        guard, option = reg.lookup(key)
        if option.name in values and key != option.name:
            raise PolicyError(f"{key} and {option.name} are the same option; give it once")
        if option.value_into and isinstance(value, (str, os.PathLike)):
            # fs_readonly="/srv" means what --fs-readonly=/srv means: read-only, rooted there
            values[option.value_into] = guard.option(option.value_into).coerce(value)
            value = True
        values[option.name] = option.coerce(value)
    return values


__all__ = ["BlockConfig"]
