"""``hermetic --no-env``: in-process and through the bootstrap, hermetic itself reads the
environment it needs before the guard goes in, and the target's first read is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hermetic_cli import EXIT_VIOLATION

from .conftest import ENV, SECRET

SCRIPT = """
import os, subprocess, sys
print("allowed:", os.environ["HT_ALLOWED"])
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('HT_ALLOWED'))"],
                       capture_output=True, text=True)
print("child:", child.stdout.strip())
print("secret:", os.environ["HT_SECRET"])
"""


def _hermetic(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HERMETIC"))}
    env.update(ENV, HERMETIC_CACHE_DIR=str(tmp_path / "cache"), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "hermetic_cli", *args],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_the_command(tmp_path: Path, mode: str) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    target = ["script.py"] if mode == "inprocess" else [sys.executable, "script.py"]
    plain = _hermetic(tmp_path, "--", *target)
    assert plain.returncode == 0, plain.stderr
    assert f"secret: {SECRET}" in plain.stdout

    for flag in ("--no-env", "--no-environment"):
        run = _hermetic(tmp_path, flag, "--allow-env", "HT_ALLOWED", "--", *target)
        assert run.returncode == EXIT_VIOLATION, run.stderr
        assert run.stdout.startswith("allowed: allowed-value\nchild: allowed-value\n")
        assert "secret:" not in run.stdout and SECRET not in run.stdout + run.stderr
        assert run.stderr == "hermetic: blocked environment: read os.environ['HT_SECRET']\n"


def test_a_child_python_of_the_command_is_guarded(tmp_path: Path) -> None:
    code = "import os; print(os.environ.get('HT_SECRET'))"
    (tmp_path / "parent.py").write_text(
        "import subprocess, sys\n"
        f"proc = subprocess.run([sys.executable, '-c', {code!r}], capture_output=True, text=True)\n"
        "print(proc.stderr.strip() or proc.stdout.strip())\n"
    )
    plain = _hermetic(tmp_path, "--", "parent.py")
    assert plain.stdout.strip() == SECRET
    run = _hermetic(tmp_path, "--no-env", "--", "parent.py")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hermetic: blocked environment: read os.environ['HT_SECRET']\n"


def test_a_malformed_allow_env_is_a_usage_error(tmp_path: Path) -> None:
    run = _hermetic(tmp_path, "--no-env", "--allow-env", "A=B", "--", "script.py")
    assert run.returncode == 2
    assert "invalid allow_env: 'A=B' looks like an assignment" in run.stderr
