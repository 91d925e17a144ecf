"""Run a snippet under a policy in a fresh process, in either delivery mode.

``run_guarded(mode, policy, body)`` runs ``body`` (Python source) in a new interpreter:

* ``"inprocess"``: this test environment's interpreter, body inside
  ``with hermetic_blocker(**policy):``;
* ``"bootstrap"``: a bare virtual environment where hermetic is NOT importable, with the
  assembled ``sitecustomize.py`` first on ``PYTHONPATH``.

The body can call ``attempt(label, fn)``, which records whether ``fn()`` was blocked (and by
which guard), succeeded, or failed otherwise; :attr:`GuardedRun.outcomes` collects them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hermetic.bootstrap import materialize
from hermetic.policy import BlockConfig

MODES = ("inprocess", "bootstrap")

PRELUDE = """
import json as _json, sys as _sys
def attempt(label, fn):
    try:
        fn()
    except BaseException as e:
        if type(e).__name__ == "PolicyViolation":
            out = [label, "blocked", getattr(e, "guard", None), getattr(e, "target", None), str(e)]
        else:
            out = [label, "error", type(e).__name__, str(e)]
    else:
        out = [label, "ok"]
    _sys.stdout.write("@@" + _json.dumps(out) + "\\n")
    _sys.stdout.flush()
"""


@dataclass
class GuardedRun:
    """What a guarded run did: exit code, output and the ``attempt`` outcomes by label."""

    returncode: int
    stdout: str
    stderr: str
    outcomes: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, proc: subprocess.CompletedProcess[str]) -> GuardedRun:
        """The run ``proc`` was: its ``@@`` lines are the outcomes, by label."""
        outcomes = {}
        for line in proc.stdout.splitlines():
            if line.startswith("@@"):
                record = json.loads(line[2:])
                outcomes[record[0]] = record
        return cls(proc.returncode, proc.stdout, proc.stderr, outcomes)

    def status(self, label: str) -> str:
        """``"blocked"``, ``"ok"`` or ``"error"`` for the attempt called ``label``."""
        if label not in self.outcomes:
            raise AssertionError(
                f"no attempt {label!r}; stdout={self.stdout!r} stderr={self.stderr!r}"
            )
        return str(self.outcomes[label][1])

    def guard(self, label: str) -> str | None:
        """The guard that blocked attempt ``label``."""
        return self.outcomes[label][2] if self.status(label) == "blocked" else None


def modules_imported_by(statement: str) -> set[str]:
    """The modules a fresh, isolated interpreter imports to run ``statement``."""
    code = (
        "import sys, json; before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def bare_venv(where: Path, python: str | None = None) -> str:
    """Create a virtual environment without pip or hermetic; return its interpreter."""
    base = python or getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True)
    exe = where / "bin" / "python"
    probe = subprocess.run([str(exe), "-c", "import hermetic"], capture_output=True)
    assert probe.returncode != 0, "hermetic must not be importable in the bare venv"
    return str(exe)


def write_bootstrap(policy: BlockConfig, root: Path, **kwargs: Any) -> str:
    """Materialise the bootstrap for ``policy`` under ``root``; return its directory."""
    return materialize(policy, root=str(root), **kwargs)


def run_guarded(
    mode: str,
    policy: dict[str, Any],
    body: str,
    *,
    bare_python: str,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    violation_exit_code: int | None = None,
) -> GuardedRun:
    """Run ``body`` under ``policy`` in a fresh interpreter (see the module docstring)."""
    body = textwrap.dedent(body)
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    full_env.update(env or {})
    if mode == "inprocess":
        code = (
            PRELUDE
            + "from hermetic import hermetic_blocker as _hb\n"
            + f"with _hb(**{policy!r}):\n"
            + textwrap.indent(body or "pass", "    ")
        )
        argv = [sys.executable, "-c", code]
    elif mode == "bootstrap":
        directory = write_bootstrap(
            BlockConfig(**policy),
            tmp_path / "hermetic-cache",
            violation_exit_code=violation_exit_code,
        )
        full_env["PYTHONPATH"] = directory
        argv = [bare_python, "-c", PRELUDE + body]
    else:
        raise ValueError(f"unknown mode {mode!r}")
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(cwd or tmp_path),
        timeout=timeout,
    )
    return GuardedRun.of(proc)
