"""``allow_commands``: what an entry allows, matched on real paths, resolved at install time.

The tools are shell scripts that create the file named by their first argument, so every
"it ran" is a file on the disk and every "refused" is one that does not exist.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from hermetic import BlockConfig, hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import GuardedRun

from .bodies import PYTHON, TOUCH, body, fresh, markers, stored

MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
SCRIPT = '#!/bin/sh\n: > "$1"\n'


def tools(tmp_path: Path) -> dict[str, str]:
    """``bin/tool``, a symlink to it under another name, and a different ``fake/tool``."""
    root = Path(os.path.realpath(tmp_path))
    for d in ("bin", "alias", "fake"):
        (root / d).mkdir()
    for script in (root / "bin" / "tool", root / "fake" / "tool"):
        script.write_text(SCRIPT)
        script.chmod(0o755)
    (root / "alias" / "other").symlink_to(root / "bin" / "tool")
    return {"BIN": str(root / "bin"), "ALIAS": str(root / "alias"), "FAKE": str(root / "fake")}


MATCHING = {
    "by name": ("subprocess.run(['tool', M], check=True)", "ok"),
    "by path": ("subprocess.run([BIN + '/tool', M], check=True)", "ok"),
    "a symlink to it under another name": (
        "subprocess.run([ALIAS + '/other', M], check=True)",
        "ok",
    ),
    "a relative path to it": ("subprocess.run(['./tool', M], cwd=BIN, check=True)", "ok"),
    "by name from os.spawnvp": ("assert os.spawnvp(os.P_WAIT, 'tool', ['tool', M]) == 0", "ok"),
    # the tools are sh scripts: the kernel runs their interpreter, which needs no entry;
    # the shell as a command stays refused
    "the shell": ("os.system('true')", "blocked"),
    "the same name on another PATH given to Popen": (
        "subprocess.run(['tool', M], env={'PATH': FAKE}, check=True)",
        "blocked",
    ),
    "another file with the same name": ("subprocess.run([FAKE + '/tool', M])", "blocked"),
    "the same name after PATH changed": (
        "os.environ['PATH'] = FAKE + os.pathsep + os.environ['PATH']\n"
        "try:\n"
        "    subprocess.run(['tool', M])\n"
        "finally:\n"
        "    os.environ['PATH'] = os.environ['PATH'].split(os.pathsep, 1)[1]",
        "blocked",
    ),
    "a command not allowed": ("subprocess.run(['touch', M])", "blocked"),
}


@MODES
def test_an_entry_allows_one_real_file_however_it_is_reached(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    paths = tools(tmp_path)
    marks = fresh(tmp_path / "marks")
    code = {label: case[0] for label, case in MATCHING.items()}
    env = {"PATH": paths["BIN"] + os.pathsep + os.environ["PATH"]}
    plain = guarded(mode, {}, body(code, marks, guarded=False, extra=paths), env=env)
    assert {v[1] for v in plain.outcomes.values()} == {"ok"}, plain.stderr
    for name in markers(marks):
        (marks / name).unlink()
    policy = {"block_subprocess": True, "allow_commands": ["tool"]}
    run = guarded(mode, policy, body(code, marks, guarded=True, extra=paths), env=env)
    expected = {label: case[1] for label, case in MATCHING.items()}
    assert {k: v[1] for k, v in run.outcomes.items()} == expected, run.stderr
    assert markers(marks) == {stored(k) for k, v in expected.items() if v == "ok"}


@MODES
def test_the_interpreter_itself_can_be_allowed(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    marks = fresh(tmp_path / "marks")
    code = {"python": "subprocess.run([sys.executable, '-c', 'open(%r, \"w\")' % M], check=True)"}
    policy = {"block_subprocess": True, "allow_commands": [PYTHON]}
    run = guarded(mode, policy, body(code, marks, guarded=True))
    assert run.status("python") == "ok", run.stderr
    assert markers(marks) == {"python"}


@MODES
def test_an_allowed_exec_replaces_the_process(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    marks = fresh(tmp_path / "marks")
    code = (
        f"import os\nM = {str(marks / 'exec')!r}\n"
        "attempt('refused first', lambda: os.execv('/bin/sh', ['sh', '-c', ': > ' + M + '.sh']))\n"
        f"os.execv({TOUCH!r}, ['touch', M])\n"
        "attempt('after', lambda: None)\n"
    )
    run = guarded(mode, {"block_subprocess": True, "allow_commands": ["touch"]}, code)
    assert run.returncode == 0, run.stderr
    assert run.status("refused first") == "blocked"
    assert "after" not in run.outcomes
    assert markers(marks) == {"exec"}


def test_names_are_resolved_when_the_guard_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = tools(tmp_path)
    marks = fresh(tmp_path / "marks")
    policy = BlockConfig(block_subprocess=True, allow_commands=["tool"])  # not on PATH yet
    monkeypatch.setenv("PATH", paths["BIN"] + os.pathsep + os.environ["PATH"])
    with hermetic_blocker(policy):  # installed now: "tool" is bin/tool
        subprocess.run(["tool", str(marks / "first")], check=True)
        monkeypatch.setenv("PATH", paths["FAKE"] + os.pathsep + os.environ["PATH"])
        with pytest.raises(PolicyViolation):  # the name keeps the meaning it had
            subprocess.run(["tool", str(marks / "second")])
    with hermetic_blocker(policy):  # a new install: "tool" is now fake/tool
        subprocess.run(["tool", str(marks / "third")], check=True)
        with pytest.raises(PolicyViolation):
            subprocess.run([paths["BIN"] + "/tool", str(marks / "fourth")])
    assert markers(marks) == {"first", "third"}


def test_an_entry_that_names_nothing_allows_nothing(tmp_path: Path) -> None:
    missing = str(tmp_path / "later")
    with hermetic_blocker(block_subprocess=True, allow_commands=["no-such-tool-here", missing]):
        with pytest.raises(FileNotFoundError):
            subprocess.run(["no-such-tool-here"])
        with pytest.raises(PolicyViolation):
            subprocess.run(["touch", str(tmp_path / "x")])
        # a path entry is a path: the file it names may appear later
        Path(missing).write_text(SCRIPT)
        Path(missing).chmod(0o755)
        subprocess.run([missing, str(tmp_path / "made")], check=True)
    assert (tmp_path / "made").exists()
    assert not (tmp_path / "x").exists()
