"""The support machinery itself: a bare venv really lacks hermetic, and runs report back."""

from __future__ import annotations

import subprocess
from pathlib import Path


def test_bare_python_has_no_hermetic(bare_python: str) -> None:
    proc = subprocess.run([bare_python, "-c", "import hermetic"], capture_output=True)
    assert proc.returncode != 0


def test_empty_policy_bootstrap_runs(bare_python: str, tmp_path: Path) -> None:
    from hermetic.bootstrap import materialize
    from hermetic.policy import BlockConfig

    directory = materialize(BlockConfig(), root=str(tmp_path))
    proc = subprocess.run(
        [bare_python, "-c", "import sys; print(sys.modules['sitecustomize'].__name__)"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": directory},
    )
    assert proc.returncode == 0, proc.stderr
