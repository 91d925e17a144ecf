"""Every surface the issue lists, proven both ways, in both delivery modes.

One table of cases runs in a fresh interpreter under several policies: none (every case
really starts its program, which leaves its marker file), ``block_subprocess`` (every case
is refused by the subprocess guard and no marker exists), and ``block_subprocess`` with
``allow_commands`` naming ``touch`` and the interpreter (the commands run again, for real;
shells and forks stay refused), then with ``sh`` allowed too (the shell cases run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import pytest

from hermetic_testsupport.runs import GuardedRun

from .bodies import PYTHON, TOUCH, body, fresh, markers, stored

MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])


class Case(NamedTuple):
    """One surface: the code, and what an allow-list of touch and python does to it."""

    code: str  # the body of a function; M is the case's marker path
    allowed: str = "ok"  # under allow_commands=[touch, python]: "ok" or "blocked"
    shell: bool = False  # runs /bin/sh: allowed once "sh" is allowed too
    exec_: bool = False  # replaces the process: not run under an allow-list here
    #: the outcome under that allow-list through the bootstrap, if it differs: an allowed
    #: Python child inherits the guard there, an in-process blocker's child does not
    inherited: str | None = None


CASES: dict[str, Case] = {
    # subprocess and everything built on Popen
    "subprocess.run": Case("subprocess.run(['touch', M], check=True)"),
    "subprocess.call": Case("assert subprocess.call(['touch', M]) == 0"),
    "subprocess.check_call": Case("subprocess.check_call(['touch', M])"),
    "subprocess.check_output": Case("subprocess.check_output(['touch', M])"),
    "subprocess.Popen": Case("assert subprocess.Popen(['touch', M]).wait() == 0"),
    "Popen.executable": Case(
        "assert subprocess.Popen(['not-touch', M], executable=TOUCH).wait() == 0"
    ),
    "Popen.env_PATH": Case(
        "subprocess.run(['touch', M], env={'PATH': os.path.dirname(TOUCH)}, check=True)"
    ),
    "Popen.cwd_relative": Case(
        "subprocess.run(['./touch', M], cwd=os.path.dirname(TOUCH), check=True)"
    ),
    "Popen.close_fds_False": Case("subprocess.run([TOUCH, M], close_fds=False, check=True)"),
    "Popen.bytes": Case("subprocess.run([TOUCH.encode(), M.encode()], check=True)"),
    "Popen.shell": Case("subprocess.run('touch ' + M, shell=True, check=True)", shell=True),
    "subprocess.getoutput": Case("subprocess.getoutput('touch ' + M)", shell=True),
    "subprocess.getstatusoutput": Case(
        "assert subprocess.getstatusoutput('touch ' + M)[0] == 0", shell=True
    ),
    "os.system": Case("assert os.system('touch ' + M) == 0", shell=True),
    "os.popen": Case("assert os.popen('touch ' + M).close() is None", shell=True),
    "asyncio.create_subprocess_exec": Case("asyncio.run(aexec(M))"),
    "asyncio.create_subprocess_shell": Case("asyncio.run(ashell(M))", shell=True),
    # exec: the process becomes the program
    "os.execv": Case("execs(lambda: os.execv(TOUCH, ['touch', M]))", exec_=True),
    "os.execve": Case("execs(lambda: os.execve(TOUCH, ['touch', M], {}))", exec_=True),
    "os.execl": Case("execs(lambda: os.execl(TOUCH, 'touch', M))", exec_=True),
    "os.execle": Case("execs(lambda: os.execle(TOUCH, 'touch', M, {}))", exec_=True),
    "os.execlp": Case("execs(lambda: os.execlp('touch', 'touch', M))", exec_=True),
    "os.execlpe": Case(
        "execs(lambda: os.execlpe('touch', 'touch', M, dict(os.environ)))", exec_=True
    ),
    "os.execvp": Case("execs(lambda: os.execvp('touch', ['touch', M]))", exec_=True),
    "os.execvpe": Case(
        "execs(lambda: os.execvpe('touch', ['touch', M], dict(os.environ)))", exec_=True
    ),
    "os.fexecve": Case(
        "execs(lambda: os.execve(os.open(TOUCH, os.O_RDONLY), ['touch', M], {}))", exec_=True
    ),
    # spawn: fork and exec in os.py
    "os.spawnv": Case("assert os.spawnv(os.P_WAIT, TOUCH, ['touch', M]) == 0"),
    "os.spawnve": Case("assert os.spawnve(os.P_WAIT, TOUCH, ['touch', M], {}) == 0"),
    "os.spawnvp": Case("assert os.spawnvp(os.P_WAIT, 'touch', ['touch', M]) == 0"),
    "os.spawnvpe": Case(
        "assert os.spawnvpe(os.P_WAIT, 'touch', ['touch', M], dict(os.environ)) == 0"
    ),
    "os.spawnl": Case("assert os.spawnl(os.P_WAIT, TOUCH, 'touch', M) == 0"),
    "os.spawnlp": Case("assert os.spawnlp(os.P_WAIT, 'touch', 'touch', M) == 0"),
    "os.spawnv.P_NOWAIT": Case("wait(os.spawnv(os.P_NOWAIT, TOUCH, ['touch', M]))"),
    "os.posix_spawn": Case("wait(os.posix_spawn(TOUCH, ['touch', M], os.environ))"),
    "os.posix_spawnp": Case("wait(os.posix_spawnp('touch', ['touch', M], os.environ))"),
    # forks
    "os.fork": Case("forked(os.fork, M)", allowed="blocked"),
    "os.forkpty": Case("forked(lambda: os.forkpty()[0], M)", allowed="blocked"),
    "pty.fork": Case("forked(lambda: pty.fork()[0], M)", allowed="blocked"),
    "pty.spawn": Case("pty.spawn(['touch', M])"),
    # what multiprocessing uses, and multiprocessing itself
    "_posixsubprocess.fork_exec": Case("wait(fork_exec([TOUCH, M]))"),
    "multiprocessing.util.spawnv_passfds": Case(
        "wait(multiprocessing.util.spawnv_passfds(os.fsencode(TOUCH), [TOUCH, M], ()))"
    ),
    "multiprocessing.fork": Case("process('fork', M)", allowed="blocked"),
    "multiprocessing.spawn": Case("process('spawn', M)"),
    # the fork server is an allowed Python; its own forks are refused where it inherits the
    # guard (the client then sees the server hang up: EOFError)
    "multiprocessing.forkserver": Case("process('forkserver', M)", inherited="error"),
    "ProcessPoolExecutor": Case("pool(M)", allowed="blocked"),
}


def run_table(
    guarded: Callable[..., GuardedRun],
    mode: str,
    policy: dict[str, object],
    cases: dict[str, Case],
    marks: Path,
) -> GuardedRun:
    code = {label: case.code for label, case in cases.items()}
    run = guarded(mode, policy, body(code, marks, guarded=bool(policy)), timeout=120)
    assert set(run.outcomes) == set(cases), run.stdout + run.stderr
    return run


@MODES
def test_without_the_guard_every_case_really_starts_its_program(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    marks = fresh(tmp_path / "marks")
    run = run_table(guarded, mode, {}, CASES, marks)
    failed = {k: v for k, v in run.outcomes.items() if v[1] != "ok"}
    assert not failed, run.stderr
    assert markers(marks) == {stored(k) for k in CASES}


@MODES
def test_the_guard_refuses_every_case_and_nothing_runs(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    marks = fresh(tmp_path / "marks")
    run = run_table(guarded, mode, {"block_subprocess": True}, CASES, marks)
    wrong = {k: v for k, v in run.outcomes.items() if v[1] != "blocked" or v[2] != "subprocess"}
    assert not wrong, run.stderr
    assert markers(marks) == set()
    assert run.returncode == 0, run.stderr


@MODES
def test_allowed_commands_run_for_real_and_forks_stay_refused(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    marks = fresh(tmp_path / "marks")
    cases = {k: c for k, c in CASES.items() if not c.exec_}
    policy = {"block_subprocess": True, "allow_commands": [TOUCH, PYTHON]}
    run = run_table(guarded, mode, policy, cases, marks)
    expected = {
        k: "blocked" if c.shell else (c.inherited if mode == "bootstrap" else None) or c.allowed
        for k, c in cases.items()
    }
    assert {k: v[1] for k, v in run.outcomes.items()} == expected, run.stderr
    assert markers(marks) == {stored(k) for k, v in expected.items() if v == "ok"}


@MODES
def test_allowing_the_shell_allows_the_shell_strings(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    marks = fresh(tmp_path / "marks")
    cases = {k: c for k, c in CASES.items() if c.shell}
    for allowed in (["sh"], ["sh", TOUCH]):
        policy = {"block_subprocess": True, "allow_commands": allowed}
        run = run_table(guarded, mode, policy, cases, marks)
        # the shell runs; what it runs is its own business: touch needs no allowing
        assert {v[1] for v in run.outcomes.values()} == {"ok"}, run.stderr
        assert markers(marks) == {stored(k) for k in cases}
        for name in markers(marks):
            (marks / name).unlink()
