"""Child processes: which ones inherit the guard, and fork children whose exec is refused.

* Through the bootstrap, an allowed child Python inherits the guard (the bootstrap is on
  ``PYTHONPATH``); a child given an environment without it does not.
* An in-process blocker guards its own process only: an allowed child Python is unguarded.
* A process forked behind the guard's back (here: the raw ``fork`` system call, which no
  layer sees) whose ``exec`` is refused ends at once with status 126; it never goes on to
  run the rest of its parent's program.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

from .bodies import PYTHON, TOUCH, fresh, markers

CHILD = (
    "import subprocess, sys\n"
    "open(sys.argv[1] + '/child-ran', 'w').close()\n"
    "try:\n"
    "    subprocess.run(['touch', sys.argv[1] + '/grandchild'])\n"
    "except RuntimeError as e:\n"
    "    print('child refused:', e)\n"
)

PARENT = f"""
import os, subprocess, sys
CHILD = {CHILD!r}
def child(env=None):
    out = subprocess.run([sys.executable, '-c', CHILD, MARK], env=env, capture_output=True,
                         text=True, check=True)
    print(out.stdout, end='')
"""


@pytest.mark.parametrize(
    ("mode", "inherits"), [("inprocess", False), ("bootstrap", True)], ids=["inprocess", "boot"]
)
def test_an_allowed_child_python_inherits_the_guard_only_through_the_bootstrap(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str, inherits: bool
) -> None:
    marks = fresh(tmp_path / "marks")
    policy = {"block_subprocess": True, "allow_commands": [PYTHON]}
    run = guarded(mode, policy, f"MARK = {str(marks)!r}\n{PARENT}\nattempt('child', child)\n")
    assert run.status("child") == "ok", run.stderr
    expected = {"child-ran"} if inherits else {"child-ran", "grandchild"}
    assert markers(marks) == expected
    assert ("child refused: subprocess disabled: run " in run.stdout) is inherits


def test_a_child_given_an_environment_without_the_bootstrap_is_unguarded(
    guarded: Callable[..., GuardedRun], tmp_path: Path
) -> None:
    marks = fresh(tmp_path / "marks")
    policy = {"block_subprocess": True, "allow_commands": [PYTHON]}
    code = f"MARK = {str(marks)!r}\n{PARENT}\nattempt('child', lambda: child(env={{}}))\n"
    run = guarded("bootstrap", policy, code)
    assert run.status("child") == "ok", run.stderr
    assert markers(marks) == {"child-ran", "grandchild"}


RAW_FORK = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def go():
    pid = libc.syscall(57)  # SYS_fork on x86_64: no audit event, no patch sees it
    if pid == 0:
        os.execv({TOUCH!r}, ["touch", MARK + "/exec"])
        open(MARK + "/continued", "w").close()  # the parent's code, in the child
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print("child status", os.waitstatus_to_exitcode(status))
attempt("raw fork", go)
attempt("exec here", lambda: os.execv({TOUCH!r}, ["touch", MARK + "/parent"]))
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the raw fork uses x86_64's number")
@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_a_fork_child_whose_exec_is_refused_exits_126_and_runs_nothing_more(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    marks = fresh(tmp_path / "marks")
    plain = guarded(mode, {}, f"MARK = {str(marks)!r}\n{RAW_FORK}")
    assert "child status 0" in plain.stdout, plain.stderr
    assert markers(marks) == {"exec", "parent"}  # both execs, for real (the last ends the run)
    for name in markers(marks):
        (marks / name).unlink()
    run = guarded(mode, {"block_subprocess": True}, f"MARK = {str(marks)!r}\n{RAW_FORK}")
    assert run.status("raw fork") == "ok", run.stderr
    assert "child status 126" in run.stdout
    assert "the forked child exits with status 126" in run.stderr
    assert run.status("exec here") == "blocked"  # in the process that installed it: raised
    assert markers(marks) == set()
    assert os.path.exists(marks)
