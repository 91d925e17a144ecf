"""Bootstrap mode: replace this process with the target, the bootstrap first on PYTHONPATH.

``exec`` rather than a child process: the target keeps hermetic's process id, so signals,
the terminal, stdin/stdout and the exit status are the target's own with nothing between.
"""

from __future__ import annotations

import os
import sys

from hermetic_cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from hermetic_cli.targets import Plan


def with_bootstrap(pythonpath: str | None, directory: str) -> str:
    """``PYTHONPATH`` with the bootstrap directory in front (what child Pythons inherit)."""
    return directory + os.pathsep + pythonpath if pythonpath else directory


def exec_target(plan: Plan, directory: str) -> NoReturn:
    """Exec ``plan`` (mode ``"exec"``) with the bootstrap in ``directory``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = with_bootstrap(env.get("PYTHONPATH"), directory)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        os.execve(plan.path, plan.argv, env)
    except OSError as exc:
        raise CLIError(f"cannot run {plan.path}: {exc.strerror or exc}") from None


__all__ = ["exec_target", "with_bootstrap"]
