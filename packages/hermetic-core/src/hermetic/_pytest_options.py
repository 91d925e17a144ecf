"""The pytest plugin's command-line and ini options, built from the installed guards.

Every flag an installed guard declares becomes a pytest option with a ``hermetic-`` prefix
and an ini key of the same name (``--no-network`` -> ``--hermetic-no-network`` and
``hermetic_no_network``); an option without a flag gets one from its name. The core options
(``--hermetic-trace``, ``--hermetic-seal``) come from ``hermetic.registry.CORE_OPTIONS``;
``--hermetic-profile``, ``--hermetic-scope`` and ``--hermetic-off`` are the plugin's own.
A value given on the command line replaces the ini value of the same key.
"""

from __future__ import annotations

import pytest

from hermetic.registry import CORE_OPTIONS, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hermetic.contract import Option

PREFIX = "hermetic-"
GROUP = "hermetic"
SCOPES = ("call", "test")

PROFILE_HELP = "Apply a named hermetic profile to every test (repeatable; ini: space-separated)."
SCOPE_HELP = (
    "When the suite policy is active: 'call' (default: the test function only) or 'test' "
    "(also its fixtures' setup and teardown)."
)
OFF_HELP = (
    "Ignore every hermetic option, ini key and marker for this run (refused when the suite "
    "policy is sealed)."
)
#: The plugin's own flags (guard flags that would shadow them are left out).
PLUGIN_FLAGS = ("--hermetic-profile", "--hermetic-scope", "--hermetic-off")


class OptionSpec:
    """One policy option as pytest sees it: its flags, ini key and how to read it back."""

    __slots__ = ("dest", "flags", "ini", "kind", "name")

    def __init__(self, name: str, kind: type, flags: list[str]) -> None:
        """Describe policy option ``name`` of type ``kind`` reachable through ``flags``."""
        self.name = name
        self.kind = kind
        self.flags = flags
        self.ini = flags[0][2:].replace("-", "_")
        self.dest = "hermetic_opt_" + name

    def __repr__(self) -> str:
        return f"OptionSpec({self.name!r}, {self.flags!r})"


def pytest_flag(flag: str) -> str:
    """``--no-network`` -> ``--hermetic-no-network``."""
    return "--" + PREFIX + flag[2:]


def _guard_flags(option: Option) -> list[str]:
    flags = option.flags or ("--" + option.name.replace("_", "-"),)
    return [pytest_flag(flag) for flag in flags]


def option_specs() -> list[OptionSpec]:
    """Every policy option of the installed guards and the core, in declaration order."""
    specs = [OptionSpec(name, bool, [pytest_flag(flag)]) for name, flag, _help in CORE_OPTIONS]
    taken = set(PLUGIN_FLAGS)
    taken.update(flag for spec in specs for flag in spec.flags)
    for guard in registry().guards.values():
        for option in guard.options:
            # A third-party flag that would shadow one of ours is left out rather than
            # breaking pytest's start-up for every project in the environment.
            flags = [flag for flag in _guard_flags(option) if flag not in taken]
            if flags:
                taken.update(flags)
                specs.append(OptionSpec(option.name, option.type, flags))
    return specs


def _help(name: str) -> str:
    for core, _flag, text in CORE_OPTIONS:
        if core == name:
            return text
    guard, option = registry().lookup(name)
    return f"[{guard.name}] {option.help}".rstrip()


def _metavar(name: str) -> str:
    _guard, option = registry().lookup(name)
    return option.metavar or option.name.upper()


def add_options(parser: pytest.Parser) -> None:
    """Declare the hermetic command-line options and ini keys on ``parser``."""
    group = parser.getgroup(GROUP, "hermetic: run tests with chosen APIs switched off")
    for spec in option_specs():
        text = _help(spec.name)
        if spec.kind is bool:
            group.addoption(
                *spec.flags, action="store_const", const=True, dest=spec.dest, help=text
            )
            parser.addini(spec.ini, text, type="bool", default=False)
        elif spec.kind is str:
            metavar = _metavar(spec.name)
            group.addoption(*spec.flags, dest=spec.dest, metavar=metavar, help=text)
            parser.addini(spec.ini, text, type="string", default="")
        else:
            metavar = _metavar(spec.name)
            group.addoption(
                *spec.flags,
                action="append",
                dest=spec.dest,
                metavar=metavar,
                help=text + " (repeatable; ini: space-separated)",
            )
            parser.addini(spec.ini, text, type="args", default=[])
    group.addoption(
        "--hermetic-profile",
        action="append",
        dest="hermetic_profile",
        metavar="NAME",
        help=PROFILE_HELP,
    )
    parser.addini("hermetic_profile", PROFILE_HELP, type="args", default=[])
    group.addoption(
        "--hermetic-scope", dest="hermetic_scope", metavar="{call,test}", help=SCOPE_HELP
    )
    parser.addini("hermetic_scope", SCOPE_HELP, type="string", default="")
    group.addoption("--hermetic-off", action="store_true", dest="hermetic_off", help=OFF_HELP)


class Settings:
    """What the command line and ini file ask of the plugin.

    Attributes:
        options: policy options by canonical name, as ``BlockConfig`` takes them.
        given: the flag (or ini key) each option came from, for messages.
        profiles: the profile names, in order.
        scope: ``"call"`` or ``"test"``.
        off: ``--hermetic-off``.
    """

    def __init__(self) -> None:
        """Nothing asked."""
        self.options: dict[str, Any] = {}
        self.given: dict[str, str] = {}
        self.profiles: list[str] = []
        self.scope = "call"
        self.off = False

    @property
    def empty(self) -> bool:
        """True when neither a policy option nor a profile was given."""
        return not self.options and not self.profiles


def _ini(config: pytest.Config, key: str) -> Any:
    try:
        return config.getini(key)
    except ValueError as exc:  # a bool key with another value: say which key
        raise pytest.UsageError(f"hermetic: ini key {key}: {exc}") from None


def read_settings(config: pytest.Config) -> Settings:
    """Read the hermetic options: the command line first, then the ini file."""
    settings = Settings()
    for spec in option_specs():
        value = config.getoption(spec.dest, None)
        source = spec.flags[0]
        if value is None:
            value = _ini(config, spec.ini)
            source = spec.ini
            if spec.kind is str and value == "":
                value = None
        if spec.kind is bool:
            if value:
                settings.options[spec.name] = True
                settings.given[spec.name] = source
        elif value:
            settings.options[spec.name] = value
            settings.given[spec.name] = source
    settings.profiles = list(config.getoption("hermetic_profile", None) or ()) or list(
        config.getini("hermetic_profile")
    )
    scope = config.getoption("hermetic_scope", None) or config.getini("hermetic_scope") or "call"
    if scope not in SCOPES:
        raise pytest.UsageError(
            f"hermetic: scope must be one of {', '.join(SCOPES)}, not {scope!r} "
            "(--hermetic-scope / hermetic_scope)"
        )
    settings.scope = scope
    settings.off = bool(config.getoption("hermetic_off", False))
    return settings


__all__ = ["PLUGIN_FLAGS", "SCOPES", "OptionSpec", "Settings", "add_options", "read_settings"]
