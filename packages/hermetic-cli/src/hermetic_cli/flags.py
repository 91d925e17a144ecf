"""hermetic's own flags, built from the installed guards' option declarations.

Every token before ``--`` is a hermetic flag. A guard's option becomes a flag by its kind:

* ``bool``: ``--no-network`` (no value);
* ``bool`` with ``value_into``: ``--fs-readonly``, ``--fs-readonly=ROOT`` or
  ``--fs-readonly ROOT`` (the value goes to the named ``str`` option);
* ``str``: ``--fs-root ROOT`` or ``--fs-root=ROOT``, at most once;
* ``list``: ``--allow-domain DOMAIN``, repeatable, one value each time.

Flags are never abbreviated: installing a guard must not change what a flag means.
"""

from __future__ import annotations

from hermetic_cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hermetic.contract import Guard, Option
    from hermetic.registry import Registry

#: Flags that ask hermetic for something instead of running a target (flag -> command).
COMMANDS = {
    "-h": "help",
    "--help": "help",
    "--version": "version",
    "--list-guards": "list-guards",
    "--list-profiles": "list-profiles",
    "--print-bootstrap": "print-bootstrap",
}

#: hermetic's own flags: (flag, metavar or None, help). ``--trace`` and ``--seal`` are the
#: core options of the same names.
CORE_FLAGS = (
    ("--profile", "NAME", "Apply a named profile (repeatable; see --list-profiles)."),
    ("--trace", None, "Report every blocked action on stderr; show tracebacks."),
    ("--seal", None, "Seal: guards can never be uninstalled for the rest of the process."),
    ("--list-guards", None, "List the installed guards, their flags and load errors."),
    ("--list-profiles", None, "List the named profiles."),
    ("--json", None, "With --list-guards or --list-profiles: print JSON."),
    (
        "--print-bootstrap",
        None,
        "Print the sitecustomize.py that enforces the given flags, and exit.",
    ),
    ("--version", None, "Print the versions of hermetic-core, hermetic-cli and each guard."),
    ("-h, --help", None, "Show this help and exit."),
)


class Request:
    """What the flags ask for.

    Attributes:
        options: policy options by canonical name, in the form ``BlockConfig`` takes them.
        profiles: the ``--profile`` names, in order.
        trace: ``--trace``.
        seal: ``--seal``.
        command: ``"help"``, ``"version"``, ``"list-guards"``, ``"list-profiles"``,
            ``"print-bootstrap"`` or None (run the target).
        json: ``--json``.
    """

    def __init__(self) -> None:
        """An empty request: no options, no command."""
        self.options: dict[str, Any] = {}
        self.profiles: list[str] = []
        self.trace = False
        self.seal = False
        self.command: str | None = None
        self.json = False

    def policy(self) -> dict[str, Any]:
        """The keyword options for ``BlockConfig`` (``trace``/``sealed`` only when set)."""
        options = dict(self.options)
        if self.trace:
            options["trace"] = True
        if self.seal:
            options["sealed"] = True
        return options


def flag_metavar(guard: Guard, option: Option) -> str:
    """The name of an option's value in help text."""
    if option.value_into:
        target = guard.option(option.value_into)
        return target.metavar or target.name.upper()
    return option.metavar or option.name.upper()


def _takes_value(option: Option) -> str:
    """``"none"``, ``"optional"`` or ``"required"``."""
    if option.type is bool:
        return "optional" if option.value_into else "none"
    return "required"


def parse(tokens: list[str], reg: Registry) -> Request:
    """Parse hermetic's flags; raise ``CLIError`` for anything it does not understand."""
    request = Request()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token in COMMANDS:
            command = COMMANDS[token]
            if request.command not in (None, command):
                raise CLIError(
                    f"--{request.command} and --{command} cannot be combined", usage=True
                )
            request.command = command
            continue
        if token.startswith("-") and not token.startswith("--"):
            raise CLIError(f"unknown flag {token!r}", usage=True)
        if not token.startswith("--") or token == "--":
            raise CLIError(
                f"unexpected argument {token!r}: hermetic's flags come first, then -- and the "
                "target (hermetic [FLAGS] -- TARGET [ARGS...])",
                usage=True,
            )
        flag, eq, value = token.partition("=")

        def take_value(required: bool, flag: str = flag, eq: str = eq, value: str = value) -> Any:
            nonlocal i
            if eq:
                if not value:
                    raise CLIError(f"{flag}= needs a value", usage=True)
                return value
            if i < len(tokens) and not tokens[i].startswith("-"):
                i += 1
                return tokens[i - 1]
            if required:
                raise CLIError(f"{flag} needs a value", usage=True)
            return None

        if flag in ("--trace", "--seal", "--json"):
            if eq:
                raise CLIError(f"{flag} takes no value", usage=True)
            setattr(request, {"--seal": "seal"}.get(flag, flag[2:]), True)
            continue
        if flag == "--profile":
            request.profiles.append(take_value(True))
            continue
        found = reg.flags.get(flag)
        if found is None:
            raise CLIError(str(reg.missing(flag, flag=True)), usage=True)
        _guard, option = found
        kind = _takes_value(option)
        if kind == "none":
            if eq:
                raise CLIError(f"{flag} takes no value", usage=True)
            request.options[option.name] = True
        elif kind == "optional":
            given = take_value(False)
            previous = request.options.get(option.name)
            if given is not None:
                if isinstance(previous, str) and previous != given:
                    raise CLIError(f"{flag} was given two different values", usage=True)
                request.options[option.name] = given
            elif previous is None:
                request.options[option.name] = True
        elif option.type is str:
            given = take_value(True)
            previous = request.options.get(option.name)
            if previous is not None and previous != given:
                raise CLIError(f"{flag} was given two different values", usage=True)
            request.options[option.name] = given
        else:
            request.options[option.name] = (*request.options.get(option.name, ()), take_value(True))
    for flag, (_guard, option) in reg.flags.items():
        given = request.options.get(option.name)
        if option.value_into and isinstance(given, str):
            other = request.options.get(option.value_into)
            if other is not None and other != given:
                raise CLIError(
                    f"{flag}={given} and the {option.value_into} option disagree", usage=True
                )
    if request.json and request.command not in ("list-guards", "list-profiles"):
        raise CLIError("--json goes with --list-guards or --list-profiles", usage=True)
    return request


__all__ = ["COMMANDS", "CORE_FLAGS", "Request", "flag_metavar", "parse"]
