"""What a refusal says: the violation's message, guard and target, and the errors that are not
refusals (a command that names no file fails as it would without the guard).

Refusals start nothing, so most of these run in the test process itself; one guarded run
checks that the bootstrap says exactly the same, and that ``trace`` reports each refusal.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import GuardedRun

BLOCK: dict[str, Any] = {"block_subprocess": True}
FOUND = shutil.which("touch") or "/usr/bin/touch"  # as PATH finds it (the message shows this)
ALLOW_TOUCH = "use --allow-command touch or allow_commands=['touch']"
SH = (
    "use --allow-command sh or allow_commands=['sh']; allowing a shell allows every command it runs"
)
FORK = (
    "a fork cannot be allowed, only commands; threads keep working: threading, "
    "concurrent.futures.ThreadPoolExecutor, multiprocessing.dummy"
)

MESSAGES: dict[str, tuple[Callable[[], object], str, str]] = {
    "run": (
        lambda: subprocess.run(["touch", "x"]),
        f"subprocess disabled: run {FOUND} x ({ALLOW_TOUCH})",
        f"{FOUND} x",
    ),
    "run by path": (
        lambda: subprocess.run([FOUND, "a b", "it's"]),
        f"subprocess disabled: run {FOUND} 'a b' 'it'\"'\"'s' ({ALLOW_TOUCH})",
        f"{FOUND} 'a b' 'it'\"'\"'s'",
    ),
    "shell=True": (
        lambda: subprocess.run("ls | wc -l", shell=True),
        f"subprocess disabled: run /bin/sh -c 'ls | wc -l' ({SH})",
        "/bin/sh -c 'ls | wc -l'",
    ),
    "os.system": (
        lambda: os.system("echo hi"),
        f"subprocess disabled: run /bin/sh -c 'echo hi' ({SH})",
        "/bin/sh -c 'echo hi'",
    ),
    "os.popen": (
        lambda: os.popen("echo hi"),
        f"subprocess disabled: run /bin/sh -c 'echo hi' ({SH})",
        "/bin/sh -c 'echo hi'",
    ),
    "os.execv": (
        lambda: os.execv(FOUND, ["touch", "x"]),
        f"subprocess disabled: exec {FOUND} x ({ALLOW_TOUCH})",
        f"{FOUND} x",
    ),
    "os.spawnlp": (
        lambda: os.spawnlp(os.P_WAIT, "touch", "touch", "x"),
        f"subprocess disabled: run {FOUND} x ({ALLOW_TOUCH})",
        f"{FOUND} x",
    ),
    "pty.spawn": (
        lambda: pty.spawn(["touch", "x"]),
        f"subprocess disabled: run {FOUND} x ({ALLOW_TOUCH})",
        f"{FOUND} x",
    ),
    "os.fork": (os.fork, f"subprocess disabled: fork this process ({FORK})", "fork"),
    "os.forkpty": (
        os.forkpty,
        f"subprocess disabled: fork this process with a pseudo-terminal ({FORK})",
        "fork",
    ),
    "ctypes": (
        lambda: ctypes.CDLL(None).system,
        "subprocess disabled: look up system() through ctypes (C functions that start "
        "programs or fork are refused under block_subprocess; allow_commands cannot allow them)",
        "system",
    ),
}


@pytest.mark.parametrize("case", list(MESSAGES))
def test_messages_say_what_was_refused_and_how_to_allow_it(case: str) -> None:
    call, message, target = MESSAGES[case]
    with hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation) as info:
        call()
    assert str(info.value) == message
    assert (info.value.guard, info.value.target) == ("subprocess", target)


def test_a_program_off_path_is_allowed_by_its_path(tmp_path: Path) -> None:
    tool = tmp_path / "touch"  # the same name as a program on PATH, but another file
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    with hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation) as info:
        subprocess.run([str(tool)])
    assert str(info.value) == (
        f"subprocess disabled: run {tool} (use --allow-command {tool} or "
        f"allow_commands=[{str(tool)!r}])"
    )


def test_a_long_command_line_is_shortened_in_the_message_only() -> None:
    argv = ["touch", *(f"file{i}" for i in range(100))]
    with hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation) as info:
        subprocess.run(argv)
    what = str(info.value).split(" (use ")[0]
    assert what.endswith("...") and len(what) < 240
    assert info.value.target == " ".join([FOUND, *argv[1:]])


def test_a_command_that_names_no_file_fails_as_without_the_guard(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("not executable")
    for policy in ({}, BLOCK, {**BLOCK, "allow_commands": ["touch"]}):
        with hermetic_blocker(**policy):
            with pytest.raises(FileNotFoundError) as missing:
                subprocess.run(["no-such-program-here"])
            assert missing.value.errno == errno.ENOENT
            with pytest.raises(PermissionError) as denied:
                subprocess.run([str(plain)])
            assert denied.value.errno == errno.EACCES
            with pytest.raises(FileNotFoundError):
                os.execv(str(tmp_path / "missing"), ["missing"])


def test_the_bootstrap_says_the_same_and_trace_reports_each_refusal(
    guarded: Callable[..., GuardedRun], tmp_path: Path
) -> None:
    body = (
        "import os, subprocess\n"
        "attempt('run', lambda: subprocess.run(['touch', 'x']))\n"
        "attempt('system', lambda: os.system('echo hi'))\n"
        "attempt('fork', os.fork)\n"
    )
    for mode in ("inprocess", "bootstrap"):
        run = guarded(mode, {**BLOCK, "trace": True}, body)
        assert run.outcomes["run"][2:] == [
            "subprocess",
            f"{FOUND} x",
            f"subprocess disabled: run {FOUND} x ({ALLOW_TOUCH})",
        ]
        assert run.outcomes["system"][4] == f"subprocess disabled: run /bin/sh -c 'echo hi' ({SH})"
        assert run.outcomes["fork"][4] == f"subprocess disabled: fork this process ({FORK})"
        lines = [line for line in run.stderr.splitlines() if line.startswith("hermetic:")]
        assert lines == [
            f"hermetic: blocked subprocess: run {FOUND} x",
            "hermetic: blocked subprocess: run /bin/sh -c 'echo hi'",
            "hermetic: blocked subprocess: fork this process",
        ], run.stderr


@pytest.mark.skipif(shutil.which("file") is None, reason="platform probes with the file command")
def test_probing_stdlib_functions_see_a_missing_tool_not_a_violation() -> None:
    """platform, ctypes.util, uuid and webbrowser run tools and catch only OSError."""
    seen: list[PolicyViolation] = []
    from hermetic._runtime import RUNTIME

    RUNTIME.observe(seen.append)
    try:
        with hermetic_blocker(**BLOCK):
            assert platform._syscmd_file(sys.executable, "fallback") == "fallback"  # type: ignore[attr-defined]
            with pytest.raises(PolicyViolation):  # the same command, asked for directly
                subprocess.check_output(["file", "-b", sys.executable])
    finally:
        RUNTIME.unobserve(seen.append)
    # the probe's refusal is still a violation the runtime reports (and traces)
    assert [v.target for v in seen][:1] == [
        f"{shutil.which('file')} -b {os.path.realpath(sys.executable)}"
    ]
