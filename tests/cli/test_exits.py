"""Exit codes and signals are the target's own, in both modes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Env, Runner


def _targets(hermetic_env: Env, other_env: Env, tmp_path: Path, tool: str) -> dict[str, list[str]]:
    """The same ``ht-*`` tool as an in-process and as a bootstrap target."""
    return {"inprocess": [tool], "bootstrap": [other_env.bin(tool)]}


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
@pytest.mark.parametrize("code", [0, 1, 7, 130, 255])
def test_exit_codes_pass_through(
    hermetic_env: Env, other_env: Env, run: Runner, tmp_path: Path, mode: str, code: int
) -> None:
    target = _targets(hermetic_env, other_env, tmp_path, "ht-exit")[mode]
    proc = run(hermetic_env, "--no-webbrowser", "--", *target, str(code))
    assert proc.returncode == code, proc.stderr
    assert proc.stderr == ""


def test_exit_codes_of_other_target_kinds(hermetic_env: Env, run: Runner, tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "msg.py").write_text("raise SystemExit('bye')\n")
    assert run(hermetic_env, "--", "s.py").returncode == 3
    proc = run(hermetic_env, "--", "msg.py")
    assert (proc.returncode, proc.stderr) == (1, "bye\n")
    assert run(hermetic_env, "--", "python", "-c", "raise SystemExit(5)").returncode == 5
    assert run(hermetic_env, "--", "python", "s.py").returncode == 3


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_an_uncaught_exception_prints_the_target_s_traceback(
    hermetic_env: Env, other_env: Env, run: Runner, tmp_path: Path, mode: str
) -> None:
    target = _targets(hermetic_env, other_env, tmp_path, "ht-raise")[mode]
    proc = run(hermetic_env, "--no-webbrowser", "--", *target)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback (most recent call last):\n")
    assert proc.stderr.endswith("ValueError: raised on purpose\n")
    assert "hermetic_cli/" not in proc.stderr  # none of hermetic's own frames


def test_a_syntax_error_in_a_py_target(hermetic_env: Env, run: Runner, tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def (:\n")
    inprocess = run(hermetic_env, "--", "bad.py")
    direct = subprocess.run(
        [hermetic_env.python, "bad.py"], cwd=tmp_path, capture_output=True, text=True
    )
    assert inprocess.returncode == direct.returncode == 1
    assert "SyntaxError" in inprocess.stderr
    assert inprocess.stderr.splitlines()[-1] == direct.stderr.splitlines()[-1]


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
@pytest.mark.parametrize(
    ("signum", "expected", "said"),
    [(signal.SIGTERM, 42, "got SIGTERM"), (signal.SIGINT, 43, "got SIGINT")],
)
def test_signals_reach_the_target_s_own_handlers(
    hermetic_env: Env,
    other_env: Env,
    tmp_path: Path,
    mode: str,
    signum: int,
    expected: int,
    said: str,
) -> None:
    target = _targets(hermetic_env, other_env, tmp_path, "ht-signal")[mode]
    proc = subprocess.Popen(
        [hermetic_env.bin("hermetic"), "--no-webbrowser", "--", *target],
        env=hermetic_env.environ(tmp_path / "cache"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    assert ready == f"ready {proc.pid}\n"  # the target runs as hermetic's own process
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == expected, err
    assert out == said + "\n"


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_death_by_signal_passes_through(
    hermetic_env: Env, run: Runner, tmp_path: Path, mode: str, signum: int
) -> None:
    code = f"import os, signal, time\nos.kill(os.getpid(), {int(signum)})\ntime.sleep(5)\n"
    (tmp_path / "die.py").write_text(code)
    target = ["die.py"] if mode == "inprocess" else ["python", "die.py"]
    start = time.monotonic()
    proc = run(hermetic_env, "--no-webbrowser", "--", *target)
    direct = subprocess.run([hermetic_env.python, "die.py"], cwd=tmp_path, capture_output=True)
    assert proc.returncode == direct.returncode == -signum
    assert time.monotonic() - start < 30
