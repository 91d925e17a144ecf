"""Known ways around the subprocess guard, each proven both ways (docs/guards/subprocess.md).

Every technique's code would make a program create its marker file. Without the guard it
does (all techniques of a mode run in one unguarded interpreter, since none of them can
harm another without a guard to tamper with); under ``block_subprocess`` each runs in an
interpreter of its own and is refused, with no marker, or, for the ``residual`` cases,
still gets through: those pin what the guard does not stop, so the documentation cannot
drift from the truth. Techniques that need a reference taken *before* the guard exist only
in-process (in the bootstrap the guard is installed before the program's first line); they
run in this test process.
"""

from __future__ import annotations

import _posixsubprocess
import ctypes
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from subprocess import Popen as CapturedPopen
from subprocess import run as captured_run
from typing import Any, Callable, NamedTuple

import pytest
from proc.subprocess.bodies import HELPERS, PYTHON, TOUCH, stored

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import GuardedRun, run_guarded

# Taken when this module is imported, before any blocker exists.
captured_system = os.system
captured_fork_exec = _posixsubprocess.fork_exec

BLOCK: dict[str, Any] = {"block_subprocess": True}
X86_64 = platform.machine() == "x86_64"


class Technique(NamedTuple):
    """One way around the guard: the code (``M`` is its marker) and what stops it."""

    code: str
    verdict: str  # "blocked" or "residual"
    layer: str  # "patch", "audit", "patch+audit" or "none"
    policy: dict[str, Any] = BLOCK
    x86_64: bool = False  # uses x86_64 system call numbers

    @property
    def group(self) -> str | None:
        """Which guarded run it shares: ``None`` for one of its own (it reloads or replaces
        modules), ``"restore"`` for those that first undo every patch (the state after that
        is the same whatever ran before), ``"plain"`` for those that tamper with nothing."""
        if "# RESTORE" in self.code:
            return "restore"
        if any(word in self.code for word in ("reload", "sys.modules")):
            return None
        return "plain"


# Patches undone by hand: every os function back to its C original from posix, the
# _posixsubprocess and subprocess ones to the original that the patch record still holds.
RESTORE = """
# RESTORE
import gc, posix
for name in ("system", "execv", "execve", "fork", "forkpty", "posix_spawn", "posix_spawnp"):
    setattr(os, name, getattr(posix, name))
records = [o for o in gc.get_objects() if type(o).__name__ == "_Patch"]
for r in records:
    if r.owner is _posixsubprocess or r.owner is subprocess or r.owner is os:
        setattr(r.owner, r.attr, r.raw)
assert not any(type(getattr(os, n)).__name__ == "function" for n in ("fork", "system", "execv"))
"""

SEALED = {**BLOCK, "sealed": True}

TECHNIQUES: dict[str, Technique] = {
    # -- the C-level modules, used directly --------------------------------------------
    "posix.system": Technique("posix.system('touch ' + M)", "blocked", "audit"),
    "posix.fork": Technique("forked(posix.fork, M)", "blocked", "audit"),
    "posix.execv": Technique("execs(lambda: posix.execv(TOUCH, ['touch', M]))", "blocked", "audit"),
    "posix.posix_spawn": Technique(
        "wait(posix.posix_spawn(TOUCH, ['touch', M], {}))", "blocked", "audit"
    ),
    "posix.posix_spawnp by name": Technique(
        "wait(posix.posix_spawnp('touch', ['touch', M], dict(os.environ)))", "blocked", "audit"
    ),
    "_posixsubprocess.fork_exec": Technique("wait(fork_exec([TOUCH, M]))", "blocked", "patch"),
    "private os._spawnvef": Technique(
        "os._spawnvef(os.P_WAIT, TOUCH, ['touch', M], None, os.execv)", "blocked", "patch+audit"
    ),
    # -- reloading patched modules ------------------------------------------------------
    "importlib.reload(os)": Technique(
        "import importlib; importlib.reload(os); forked(os.fork, M)", "blocked", "audit"
    ),
    "importlib.reload(os) then os.system": Technique(
        "import importlib; importlib.reload(os); os.system('touch ' + M)", "blocked", "audit"
    ),
    "importlib.reload(subprocess)": Technique(
        "import importlib; importlib.reload(subprocess); subprocess.run(['touch', M])",
        "blocked",
        "patch+audit",
    ),
    "importlib.reload(_posixsubprocess)": Technique(
        "import importlib; importlib.reload(_posixsubprocess); wait(fork_exec([TOUCH, M]))",
        "blocked",
        "patch",
    ),
    "importlib.reload(multiprocessing.util)": Technique(
        "import importlib; importlib.reload(multiprocessing.util)\n"
        "wait(multiprocessing.util.spawnv_passfds(os.fsencode(TOUCH), [TOUCH, M], ()))",
        "blocked",
        "patch",
    ),
    # -- sys.modules tampering: fresh copies ----------------------------------------------
    "a fresh os module": Technique(
        "del sys.modules['os']; fresh = __import__('os'); sys.modules['os'] = os\n"
        "fresh.system('touch ' + M)",
        "blocked",
        "audit",
    ),
    "a fresh subprocess module": Technique(
        "del sys.modules['subprocess']; fresh = __import__('subprocess')\nfresh.run(['touch', M])",
        "blocked",
        "patch+audit",
    ),
    "a fresh _posixsubprocess module": Technique(
        "del sys.modules['_posixsubprocess']\n"
        "try:\n"
        "    fresh = __import__('_posixsubprocess')\n"
        "finally:\n"
        "    sys.modules['_posixsubprocess'] = _posixsubprocess\n"
        "wait(fork_exec_of(fresh.fork_exec, [TOUCH, M]))",
        "blocked",
        "audit",
    ),
    # -- patches removed by hand -----------------------------------------------------------
    "patches removed: subprocess.run": Technique(
        RESTORE + "subprocess.run(['touch', M])", "blocked", "audit"
    ),
    "patches removed: os.system": Technique(
        RESTORE + "os.system('touch ' + M)", "blocked", "audit"
    ),
    "patches removed: os.fork": Technique(RESTORE + "forked(os.fork, M)", "blocked", "audit"),
    "patches removed: os.execv": Technique(
        RESTORE + "execs(lambda: os.execv(TOUCH, ['touch', M]))", "blocked", "audit"
    ),
    "patches removed: os.posix_spawn": Technique(
        RESTORE + "wait(os.posix_spawn(TOUCH, ['touch', M], {}))", "blocked", "audit"
    ),
    "patches removed: pty.spawn": Technique(
        RESTORE + "pty.spawn(['touch', M])", "blocked", "audit"
    ),
    "patches removed: _posixsubprocess.fork_exec": Technique(
        RESTORE + "wait(fork_exec([TOUCH, M]))", "residual", "none"
    ),
    "patches removed: multiprocessing spawn": Technique(
        RESTORE + "wait(multiprocessing.util.spawnv_passfds(os.fsencode(TOUCH), [TOUCH, M], ()))",
        "residual",
        "none",
    ),
    "sealed, patches removed: subprocess.run": Technique(
        RESTORE + "subprocess.run(['touch', M])", "blocked", "audit", SEALED
    ),
    "sealed, patches removed: os.system": Technique(
        RESTORE + "os.system('touch ' + M)", "blocked", "audit", SEALED
    ),
    "sealed, patches removed: os.fork": Technique(
        RESTORE + "forked(os.fork, M)", "blocked", "audit", SEALED
    ),
    "sealed, patches removed: os.execv": Technique(
        RESTORE + "execs(lambda: os.execv(TOUCH, ['touch', M]))", "blocked", "audit", SEALED
    ),
    "sealed, patches removed: os.forkpty": Technique(
        RESTORE + "forked(lambda: os.forkpty()[0], M)", "blocked", "audit", SEALED
    ),
    "sealed, patches removed: os.posix_spawn": Technique(
        RESTORE + "wait(os.posix_spawn(TOUCH, ['touch', M], {}))", "blocked", "audit", SEALED
    ),
    "sealed, patches removed: pty.spawn": Technique(
        RESTORE + "pty.spawn(['touch', M])", "blocked", "audit", SEALED
    ),
    "sealed, patches removed: _posixsubprocess.fork_exec": Technique(
        RESTORE + "wait(fork_exec([TOUCH, M]))", "residual", "none", SEALED
    ),
    # -- threads ----------------------------------------------------------------------------
    "a thread started inside the blocker": Technique(
        "import threading\n"
        "errors = []\n"
        "def work():\n"
        "    try:\n"
        "        subprocess.run(['touch', M])\n"
        "    except BaseException as e:\n"
        "        errors.append(e)\n"
        "t = threading.Thread(target=work); t.start(); t.join()\n"
        "if errors:\n"
        "    raise errors[0]",
        "blocked",
        "patch+audit",
    ),
    # -- forged vouchers -----------------------------------------------------------------
    "a forged pty.spawn event to get a fork": Technique(
        "try:\n"
        "    sys.audit('pty.spawn', ['touch'])\n"
        "except RuntimeError:\n"
        "    pass\n"
        "forked(os.fork, M)",
        "blocked",
        "patch+audit",
        {**BLOCK, "allow_commands": ["touch"]},
    ),
    # -- the allow-list --------------------------------------------------------------------
    "a look-alike earlier on the PATH given to Popen": Technique(
        "fake = os.path.join(MARK, 'bin'); os.makedirs(fake, exist_ok=True)\n"
        "os.symlink('/bin/sh', os.path.join(fake, 'touch'))\n"
        "subprocess.run(['touch', '-c', ': > ' + M], env={'PATH': fake})",
        "blocked",
        "patch+audit",
        {**BLOCK, "allow_commands": ["touch"]},
    ),
    "an allowed shell runs anything": Technique(
        "subprocess.run(['sh', '-c', 'touch ' + M])",
        "residual",
        "none",
        {**BLOCK, "allow_commands": ["sh"]},
    ),
    "an allowed command runs other programs": Technique(
        "subprocess.run(['env', 'touch', M])",
        "residual",
        "none",
        {**BLOCK, "allow_commands": ["env"]},
    ),
    # -- ctypes ------------------------------------------------------------------------------
    "ctypes: libc.system looked up under the guard": Technique(
        "ctypes.CDLL(None).system(('touch ' + M).encode())", "blocked", "audit"
    ),
    "ctypes: libc.fork looked up under the guard": Technique(
        "forked(ctypes.CDLL(None).fork, M)", "blocked", "audit"
    ),
    "ctypes: _ctypes.dlsym of execv": Technique(
        "import _ctypes\n"
        "def go():\n"
        "    address = _ctypes.dlsym(ctypes.CDLL(None)._handle, 'execv')\n"
        "    argv = (ctypes.c_char_p * 3)(b'touch', M.encode(), None)\n"
        "    ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, type(argv))(address)("
        "TOUCH.encode(), argv)\n"
        "execs(go)",
        "blocked",
        "audit",
    ),
    "ctypes: the raw fork and execve system calls": Technique(
        "libc = ctypes.CDLL(None)\n"
        "pid = libc.syscall(57)  # SYS_fork\n"
        "if pid == 0:\n"
        "    argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', (': > ' + M).encode(), None)\n"
        "    libc.syscall(59, b'/bin/sh', argv, None)  # SYS_execve\n"
        "    os._exit(1)\n"
        "wait(pid)",
        "residual",
        "none",
        x86_64=True,
    ),
}

PRELUDE = (
    HELPERS
    + """
import ctypes

def fork_exec_of(function, argv):
    r, w = os.pipe()
    tail = (-1, None, None, None, -1, None, True) if sys.version_info >= (3, 11) else (
        None, None, None, -1, None)
    try:
        return function(argv, [os.fsencode(argv[0])], True, (), None, None,
                        -1, -1, -1, -1, -1, -1, r, w, False, False, *tail)
    finally:
        os.close(r)
        os.close(w)
"""
)


def _body(techniques: dict[str, Technique], marks: Path, guarded: bool) -> str:
    parts = [PRELUDE, f"MARK = {str(marks)!r}", f"TOUCH = {TOUCH!r}", f"GUARDED = {guarded}"]
    for i, (label, technique) in enumerate(techniques.items()):
        parts.append(
            f"def technique_{i}():\n    M = mark({label!r})\n"
            + textwrap.indent(technique.code, "    ")
        )
        parts.append(f"attempt({label!r}, technique_{i})")
    return "\n".join(parts) + "\n"


class Runner:
    """Unguarded runs (one per mode, all techniques) and guarded runs: one per technique
    that reloads or replaces modules, one per mode, group and policy for the others."""

    def __init__(self, bare_python: str, root: Path) -> None:
        self.bare_python = bare_python
        self.root = Path(os.path.realpath(root))
        self._plain: dict[str, tuple[GuardedRun, Path]] = {}
        self._shared: dict[tuple[str, str, str], tuple[GuardedRun, Path]] = {}

    def run(self, mode: str, policy: dict[str, Any], body: str, where: Path) -> GuardedRun:
        where.mkdir(parents=True, exist_ok=True)
        return run_guarded(
            mode, policy, body, bare_python=self.bare_python, tmp_path=where, timeout=60
        )

    def plain(self, mode: str) -> tuple[GuardedRun, Path]:
        if mode not in self._plain:
            marks = self.root / f"plain-{mode}" / "marks"
            marks.mkdir(parents=True)
            runnable = {k: t for k, t in TECHNIQUES.items() if X86_64 or not t.x86_64}
            run = self.run(mode, {}, _body(runnable, marks, False), marks.parent)
            self._plain[mode] = (run, marks)
        return self._plain[mode]

    def guarded(self, mode: str, label: str) -> tuple[GuardedRun, Path]:
        technique = TECHNIQUES[label]
        if technique.group is None:
            marks = self.root / f"{mode}-{stored(label)}" / "marks"
            marks.mkdir(parents=True)
            body = _body({label: technique}, marks, True)
            return self.run(mode, technique.policy, body, marks.parent), marks
        key = (mode, technique.group, repr(sorted(technique.policy.items())))
        if key not in self._shared:
            marks = self.root / f"{mode}-shared-{len(self._shared)}" / "marks"
            marks.mkdir(parents=True)
            batch = {
                k: t
                for k, t in TECHNIQUES.items()
                if t.group == technique.group
                and t.policy == technique.policy
                and (X86_64 or not t.x86_64)
            }
            run = self.run(mode, technique.policy, _body(batch, marks, True), marks.parent)
            self._shared[key] = (run, marks)
        return self._shared[key]


@pytest.fixture(scope="module")
def runner(bare_python: str, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(bare_python, tmp_path_factory.mktemp("subprocess-bypasses"))


def _param(label: str) -> Any:
    t = TECHNIQUES[label]
    marks = [pytest.mark.bypass("subprocess", label, verdict=t.verdict, layer=t.layer)]
    if t.x86_64:
        marks.append(pytest.mark.skipif(not X86_64, reason="x86_64 system call numbers"))
    return pytest.param(label, marks=marks, id=label)


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
@pytest.mark.parametrize("label", [_param(label) for label in TECHNIQUES])
def test_technique(runner: Runner, mode: str, label: str) -> None:
    technique = TECHNIQUES[label]
    plain, plain_marks = runner.plain(mode)
    assert plain.status(label) == "ok", plain.stdout + plain.stderr
    assert (plain_marks / stored(label)).exists(), "without the guard the technique must work"
    run, marks = runner.guarded(mode, label)
    if technique.verdict == "blocked":
        assert (run.status(label), run.guard(label)) == ("blocked", "subprocess"), run.stderr
        assert not (marks / stored(label)).exists()
    else:
        assert run.status(label) == "ok", run.stdout + run.stderr
        assert (marks / stored(label)).exists(), "a residual must still get through"


# -- references taken before the guard existed (in-process only) -------------------------


def _fork_exec_touch(fork_exec: Callable[..., int], path: Path) -> None:
    r, w = os.pipe()
    tail: tuple[Any, ...] = (
        (-1, None, None, None, -1, None, True)
        if sys.version_info >= (3, 11)
        else (None, None, None, -1, None)
    )
    try:
        pid = fork_exec(
            [TOUCH, str(path)], [os.fsencode(TOUCH)], True, (), None, None,
            -1, -1, -1, -1, -1, -1, r, w, False, False, *tail,
        )  # fmt: skip
    finally:
        os.close(r)
        os.close(w)
    os.waitpid(pid, 0)


@pytest.mark.bypass("subprocess", "a Popen class captured before the blocker", verdict="blocked",
                    layer="patch+audit")  # fmt: skip
def test_a_popen_class_captured_before_the_blocker(tmp_path: Path) -> None:
    CapturedPopen(["touch", str(tmp_path / "plain")]).wait()
    with hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation):
        CapturedPopen(["touch", str(tmp_path / "guarded")])
    with hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation):
        captured_run(["touch", str(tmp_path / "guarded")])
    assert sorted(os.listdir(tmp_path)) == ["plain"]


@pytest.mark.bypass("subprocess", "os.system captured before the blocker", verdict="blocked",
                    layer="audit")  # fmt: skip
def test_os_system_captured_before_the_blocker(tmp_path: Path) -> None:
    assert captured_system(f"touch {tmp_path}/plain") == 0
    with hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation):
        captured_system(f"touch {tmp_path}/guarded")
    assert sorted(os.listdir(tmp_path)) == ["plain"]


@pytest.mark.bypass("subprocess", "_posixsubprocess.fork_exec captured before the blocker",
                    verdict="residual", layer="none")  # fmt: skip
def test_fork_exec_captured_before_the_blocker_still_runs(tmp_path: Path) -> None:
    with hermetic_blocker(**BLOCK):
        with pytest.raises(PolicyViolation):  # the module's attribute is guarded
            _fork_exec_touch(_posixsubprocess.fork_exec, tmp_path / "refused")
        _fork_exec_touch(captured_fork_exec, tmp_path / "escaped")  # no event, no patch
    assert sorted(os.listdir(tmp_path)) == ["escaped"]


@pytest.mark.bypass("subprocess", "a ctypes function resolved before the blocker",
                    verdict="residual", layer="none")  # fmt: skip
def test_a_ctypes_function_resolved_before_the_blocker_still_runs(tmp_path: Path) -> None:
    system = ctypes.CDLL(None).system  # resolved now: calling it later raises no event
    with hermetic_blocker(**BLOCK):
        with pytest.raises(PolicyViolation):
            getattr(ctypes.CDLL(None), "system")  # noqa: B009 - the lookup is the point
        assert system(f"touch {tmp_path}/escaped".encode()) == 0
    assert sorted(os.listdir(tmp_path)) == ["escaped"]


@pytest.mark.bypass("subprocess", "retargeting a symlink named in allow_commands",
                    verdict="blocked", layer="patch+audit")  # fmt: skip
def test_retargeting_an_allowed_symlink_after_install(tmp_path: Path) -> None:
    link = tmp_path / "tool"
    link.symlink_to(TOUCH)
    with hermetic_blocker(**BLOCK, allow_commands=[str(link)]):
        subprocess.run([str(link), str(tmp_path / "allowed")], check=True)
        link.unlink()
        link.symlink_to("/bin/sh")  # the entry meant touch's real path when installed
        with pytest.raises(PolicyViolation):
            subprocess.run([str(link), "-c", f": > {tmp_path}/swapped"])
    assert not (tmp_path / "swapped").exists() and (tmp_path / "allowed").exists()


@pytest.mark.bypass("subprocess", "writing over an allowed executable", verdict="residual",
                    layer="none")  # fmt: skip
def test_writing_over_an_allowed_executable_still_runs(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_text('#!/bin/sh\n: > "$1".first\n')
    tool.chmod(0o755)
    with hermetic_blocker(**BLOCK, allow_commands=[str(tool)]):
        subprocess.run([str(tool), str(tmp_path / "out")], check=True)
        tool.write_text('#!/bin/sh\n: > "$1".rewritten\n')  # same path, new program
        subprocess.run([str(tool), str(tmp_path / "out")], check=True)
    assert (tmp_path / "out.rewritten").exists()


@pytest.mark.bypass("subprocess", "an allowed child interpreter under an in-process blocker",
                    verdict="residual", layer="none")  # fmt: skip
def test_an_allowed_child_interpreter_is_unguarded_in_process(tmp_path: Path) -> None:
    code = f"import subprocess; subprocess.run([{TOUCH!r}, {str(tmp_path / 'grandchild')!r}])"
    with hermetic_blocker(**BLOCK, allow_commands=[PYTHON]):
        subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "grandchild").exists()
