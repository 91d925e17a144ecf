"""The guards really act on the target, in both modes, in its children, and after its own
sitecustomize: checked with the third-party fixture guard (``--no-webbrowser``; the fake
``$BROWSER`` writes a marker file when a browser is really opened)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hermetic_cli import EXIT_VIOLATION

from .conftest import Env, Runner

URL = "http://example.invalid/page"
OPEN = f"import webbrowser; print('opened', webbrowser.open({URL!r}))"
BLOCKED_LINE = f"hermetic: blocked webbrowser: open {URL}\n"


def _browser_target(mode: str, hermetic_env: Env, other_env: Env) -> list[str]:
    if mode == "inprocess":
        return ["ht-browser", URL]
    if mode == "bootstrap":
        return [other_env.bin("ht-browser"), URL]
    return ["python", "-c", OPEN]


MODES = ["inprocess", "bootstrap", "python"]


@pytest.mark.parametrize("mode", MODES)
def test_blocked_and_allowed(
    hermetic_env: Env,
    other_env: Env,
    run: Runner,
    browser: tuple[dict[str, str], Path],
    mode: str,
) -> None:
    env, marker = browser
    target = _browser_target(mode, hermetic_env, other_env)
    allowed = run(hermetic_env, "--", *target, extra_env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert marker.read_text() == URL  # without the flag the browser really opens
    marker.unlink()
    blocked = run(hermetic_env, "--no-webbrowser", "--", *target, extra_env=env)
    assert blocked.returncode == EXIT_VIOLATION
    assert blocked.stderr == BLOCKED_LINE  # one line, no traceback
    assert blocked.stdout == ""
    assert not marker.exists()


@pytest.mark.parametrize("mode", MODES)
def test_trace_shows_the_traceback_and_each_block(
    hermetic_env: Env, other_env: Env, run: Runner, browser: tuple[dict[str, str], Path], mode: str
) -> None:
    env, marker = browser
    target = _browser_target(mode, hermetic_env, other_env)
    proc = run(hermetic_env, "--no-webbrowser", "--trace", "--", *target, extra_env=env)
    assert proc.returncode == EXIT_VIOLATION
    lines = proc.stderr.splitlines()
    assert lines[0] == f"hermetic: blocked webbrowser: open {URL}"  # traced when it happened
    assert "Traceback (most recent call last):" in lines
    assert "PolicyViolation: web browser disabled" in proc.stderr
    assert lines[-1] == BLOCKED_LINE.strip()
    assert not marker.exists()


@pytest.mark.parametrize("mode", ["inprocess", "python"])
def test_a_violation_the_target_catches_is_the_target_s_business(
    hermetic_env: Env, run: Runner, browser: tuple[dict[str, str], Path], tmp_path: Path, mode: str
) -> None:
    env, marker = browser
    (tmp_path / "catch.py").write_text(
        "import webbrowser\n"
        "from hermetic.errors import PolicyViolation\n"
        "try:\n"
        f"    webbrowser.open({URL!r})\n"
        "except PolicyViolation as exc:\n"
        "    print('caught', exc.guard, exc.target)\n"
    )
    target = ["catch.py"] if mode == "inprocess" else ["python", "catch.py"]
    proc = run(hermetic_env, "--no-webbrowser", "--", *target, extra_env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"caught webbrowser {URL}\n"
    assert not marker.exists()


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_child_python_processes_inherit_the_guards(
    hermetic_env: Env, other_env: Env, run: Runner, browser: tuple[dict[str, str], Path], mode: str
) -> None:
    env, marker = browser
    tool = "ht-child" if mode == "inprocess" else other_env.bin("ht-child")
    # a grandchild too: the child starts another Python that opens the browser
    grandchild = (
        "import subprocess, sys\n"
        f"sys.exit(subprocess.run([sys.executable, '-c', {OPEN!r}]).returncode)"
    )
    for code in (OPEN, grandchild):
        proc = run(hermetic_env, "--no-webbrowser", "--", tool, code, extra_env=env)
        assert proc.returncode == EXIT_VIOLATION, proc.stderr
        assert proc.stderr == BLOCKED_LINE
        assert not marker.exists()
    proc = run(hermetic_env, "--", tool, grandchild, extra_env=env)
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == URL


def test_the_target_s_own_sitecustomize_still_runs(
    hermetic_env: Env, run: Runner, browser: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, marker = browser
    venv = tmp_path / "own-site"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "sitecustomize.py").write_text("import builtins\nbuiltins.OWN_SITE = 'venv'\n")
    code = f"import builtins; print(builtins.OWN_SITE); {OPEN}"
    proc = run(
        hermetic_env,
        "--no-webbrowser",
        "--",
        str(venv / "bin" / "python"),
        "-c",
        code,
        extra_env=env,
    )
    assert proc.returncode == EXIT_VIOLATION, proc.stderr
    assert proc.stdout == "venv\n"
    assert proc.stderr == BLOCKED_LINE
    # one found through the user's own PYTHONPATH is chained as well
    user = tmp_path / "user-path"
    user.mkdir()
    (user / "sitecustomize.py").write_text("import builtins\nbuiltins.OWN_SITE = 'user'\n")
    proc = run(
        hermetic_env,
        "--no-webbrowser",
        "--",
        "python",
        "-c",
        code,
        extra_env={**env, "PYTHONPATH": str(user)},
    )
    assert proc.returncode == EXIT_VIOLATION, proc.stderr
    assert proc.stdout == "user\n"
    assert not marker.exists()


def test_seal(
    hermetic_env: Env, run: Runner, browser: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, marker = browser
    (tmp_path / "escape.py").write_text(
        f"from hermetic.guards import uninstall_all\nuninstall_all()\n{OPEN}\n"
    )
    proc = run(hermetic_env, "--no-webbrowser", "--", "escape.py", extra_env=env)
    assert proc.returncode == 0, proc.stderr  # unsealed, the target can switch guards off
    assert marker.exists()
    marker.unlink()
    proc = run(hermetic_env, "--no-webbrowser", "--seal", "--", "escape.py", extra_env=env)
    assert proc.returncode == EXIT_VIOLATION, proc.stderr
    assert not marker.exists()
    # in the bootstrap the guards live in the bootstrap's own runtime, out of reach of
    # hermetic.guards.uninstall_all() either way
    for flags in (["--no-webbrowser"], ["--no-webbrowser", "--seal"]):
        proc = run(hermetic_env, *flags, "--", "python", "escape.py", extra_env=env)
        assert proc.returncode == EXIT_VIOLATION, proc.stderr
        assert not marker.exists()


def test_print_bootstrap_is_the_policy_baked_into_a_file(
    hermetic_env: Env,
    other_env: Env,
    run: Runner,
    browser: tuple[dict[str, str], Path],
    tmp_path: Path,
) -> None:
    env, marker = browser
    proc = run(hermetic_env, "--no-webbrowser", "--print-bootstrap")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# sitecustomize.py generated by hermetic-core")
    baked = tmp_path / "image-site"
    baked.mkdir()
    (baked / "sitecustomize.py").write_text(proc.stdout)
    direct = subprocess.run(
        [other_env.python, "-c", OPEN],
        env={**other_env.environ(tmp_path / "c"), **env, "PYTHONPATH": str(baked)},
        capture_output=True,
        text=True,
    )
    assert direct.returncode == EXIT_VIOLATION, direct.stderr
    assert direct.stderr == BLOCKED_LINE
    assert not marker.exists()
    # the same flags give the same file; other flags another one
    assert run(hermetic_env, "--no-webbrowser", "--print-bootstrap").stdout == proc.stdout
    assert run(hermetic_env, "--no-webbrowser", "--trace", "--print-bootstrap").stdout != (
        proc.stdout
    )
