"""The ``hermetic`` command: flags, then ``--``, then the target.

Two paths. A run whose flags were seen before in this environment (see
:mod:`hermetic_cli.cache`) goes straight from the remembered bootstrap to ``exec``: no guard
discovery, no policy validation, no hashing. Everything else (a first run, ``--help``, the
listings, an error) takes the full path: discover the guards, parse the flags against their
declarations, validate the policy, write the bootstrap and remember the result.
"""

from __future__ import annotations

import os
import sys

from hermetic_cli import EXIT_USAGE, EXIT_VIOLATION, cache, targets
from hermetic_cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from hermetic.policy import BlockConfig
    from hermetic.registry import Registry
    from hermetic_cli.flags import Request

#: Flags that ask hermetic for something instead of running a target.
COMMAND_FLAGS = frozenset(
    ("-h", "--help", "--version", "--list-guards", "--list-profiles", "--print-bootstrap")
)

_USAGE_HINT = "usage: hermetic [FLAGS] -- TARGET [ARGS...]   (see hermetic --help)"


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit code (or never return: the target took over)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args)
    except CLIError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"hermetic: {exc}\n")
        if exc.usage:
            sys.stderr.write(_USAGE_HINT + "\n")
        sys.stderr.flush()
        return EXIT_USAGE


def _dispatch(args: list[str]) -> int:
    if "--" in args:
        cut = args.index("--")
        flags, target = args[:cut], args[cut + 1 :]
    else:
        flags, target = args, []
    env_cache = cache.EnvCache()
    key = cache.policy_key(flags)
    if target and not COMMAND_FLAGS.intersection(flags):
        remembered = env_cache.lookup(key)
        if remembered is not None:
            directory, values = remembered
            return _start(targets.resolve(target), directory, values)
    return _full(flags, target, env_cache, key)


def _start(plan: targets.Plan, directory: str, values: dict[str, Any]) -> int:
    """Run the resolved target under the policy whose bootstrap is in ``directory``."""
    if plan.mode != "exec":
        from hermetic_cli import inprocess

        if inprocess.suitable(values):
            return inprocess.run(plan, values, directory)
        plan = plan.as_exec()
    from hermetic_cli.launch import exec_target

    exec_target(plan, directory)


def _full(flags: list[str], target: list[str], env_cache: cache.EnvCache, key: object) -> int:
    from hermetic.registry import registry
    from hermetic_cli.flags import parse

    reg = registry()
    if not flags and not target:
        flags = ["--help"]
    request = parse(flags, reg)
    if request.command is not None and request.command != "print-bootstrap":
        if target:
            raise CLIError(f"--{request.command} runs no target; drop the part after --")
        return _command(request, reg)
    config = _config(request)
    if request.command == "print-bootstrap":
        if target:
            raise CLIError(
                "--print-bootstrap prints the bootstrap and runs nothing; drop the target"
            )
        from hermetic.bootstrap import assemble

        sys.stdout.write(assemble(config, violation_exit_code=EXIT_VIOLATION))
        return 0
    if not target:
        raise CLIError(
            "nothing to run: put the target after --, e.g. hermetic --no-network -- python app.py",
            usage=True,
        )
    plan = targets.resolve(target)
    from hermetic.bootstrap import materialize
    from hermetic.errors import BootstrapError

    try:
        directory = os.path.abspath(materialize(config, violation_exit_code=EXIT_VIOLATION))
    except BootstrapError as exc:
        raise CLIError(str(exc)) from None
    values = config.values
    env_cache.store(key, directory, values, _stamps(reg))
    return _start(plan, directory, values)


def _command(request: Request, reg: Registry) -> int:
    from hermetic_cli import listing

    if request.command == "help":
        from hermetic_cli.helptext import render

        sys.stdout.write(render(reg))
        return 0
    if request.command == "version":
        return listing.versions(reg)
    if request.command == "list-guards":
        return listing.list_guards(reg, as_json=request.json)
    return listing.list_profiles(reg, as_json=request.json)


def _config(request: Request) -> BlockConfig:
    from hermetic.errors import PolicyError
    from hermetic.policy import BlockConfig
    from hermetic.profiles import apply_profiles

    try:
        # The flags refine the profiles given with them (one declaration, see overlay).
        return apply_profiles(BlockConfig(), request.profiles).overlay(
            BlockConfig(**request.policy())
        )
    except PolicyError as exc:
        raise CLIError(str(exc)) from None


def _stamps(reg: Registry) -> Any:
    packages = ["hermetic", "hermetic_cli"]
    packages += [guard.patch_module.split(".")[0] for guard in reg.guards.values()]
    packages += [failure.value.split(":")[0].strip().split(".")[0] for failure in reg.failures]
    return cache.collect_stamps(packages)


__all__ = ["COMMAND_FLAGS", "run"]
