"""Ordinary code under ``block_subprocess``: threads, imports, asyncio, platform, and more.

False positives are bugs: everything here must work under the guard, in both delivery
modes, and leave nothing behind in-process once the blocker exits.
"""

from __future__ import annotations

import _posixsubprocess
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic import hermetic_blocker
from hermetic._runtime import RUNTIME
from hermetic_testsupport.runs import GuardedRun

ORDINARY = r"""
import os, sys
def threads():
    import threading
    seen = []
    t = threading.Thread(target=seen.append, args=(1,))
    t.start(); t.join()
    assert seen == [1]
attempt("threading", threads)
def thread_pool():
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as ex:
        assert list(ex.map(abs, [-1, -2])) == [1, 2]
attempt("ThreadPoolExecutor", thread_pool)
def dummy_pool():
    import multiprocessing.dummy
    with multiprocessing.dummy.Pool(2) as pool:
        assert pool.map(abs, [-3, -4]) == [3, 4]
attempt("multiprocessing.dummy", dummy_pool)
attempt("import subprocess, multiprocessing, asyncio, pty", lambda: __import__(
    "subprocess") and __import__("multiprocessing") and __import__("asyncio") and __import__("pty"))
def multiprocessing_primitives():
    import multiprocessing
    lock = multiprocessing.Lock()
    with lock:
        q = multiprocessing.Queue()
        q.put(1)
        assert q.get(timeout=5) == 1
    assert multiprocessing.cpu_count() >= 1
attempt("multiprocessing Lock, Queue, cpu_count", multiprocessing_primitives)
def asyncio_run():
    import asyncio
    async def main():
        await asyncio.sleep(0)
        return await asyncio.get_running_loop().run_in_executor(None, abs, -5)
    assert asyncio.run(main()) == 5
attempt("asyncio.run", asyncio_run)
attempt("shutil.which", lambda: __import__("shutil").which("sh") or 1/0)
attempt("os.getpid", lambda: os.getpid() > 0 or 1/0)
def platform_calls():
    import platform
    assert platform.uname().system
    assert platform.platform()
    assert platform.architecture()[0] in ("32bit", "64bit")
    assert platform.libc_ver() is not None
    platform.processor()
    platform.machine()
    platform.python_version()
attempt("platform", platform_calls)
def find_library():
    import ctypes.util
    ctypes.util.find_library("c")  # None: it answers as on a system without its tools
attempt("ctypes.util.find_library", find_library)
attempt("uuid", lambda: __import__("uuid").uuid1() and __import__("uuid").getnode())
def argparse_help():
    import argparse, io
    parser = argparse.ArgumentParser(prog="tool", description="d")
    parser.add_argument("--flag", help="a flag")
    out = io.StringIO()
    parser.print_help(out)
    assert "--flag" in out.getvalue()
attempt("argparse help", argparse_help)
def tracebacks():
    import traceback, tbmod
    try:
        tbmod.boom()
    except KeyError:
        text = traceback.format_exc()
    assert "the source line a traceback must show" in text, text
attempt("tracebacks", tracebacks)
attempt("decimal", lambda: str(__import__("decimal").Decimal("1.10") + 1) == "2.10" or 1/0)
def getpass_user():
    import getpass
    getpass.getuser()
attempt("getpass.getuser", getpass_user)
attempt("webbrowser.get", lambda: __import__("webbrowser"))
"""


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_ordinary_code_keeps_working(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    (tmp_path / "tbmod.py").write_text(
        "def boom():\n    {}['missing']  # the source line a traceback must show\n"
    )
    for policy in ({}, {"block_subprocess": True}):
        run = guarded(mode, policy, ORDINARY)
        failed = {k: v for k, v in run.outcomes.items() if v[1] != "ok"}
        assert not failed, run.stderr
        assert len(run.outcomes) == ORDINARY.count("\nattempt("), run.stderr


ORIGINALS: list[tuple[Any, str]] = [
    (os, "system"),
    (os, "execv"),
    (os, "execve"),
    (os, "fork"),
    (os, "forkpty"),
    (os, "posix_spawn"),
    (os, "posix_spawnp"),
    (os, "spawnv"),
    (os, "spawnve"),
    (os, "spawnvp"),
    (os, "spawnvpe"),
    (_posixsubprocess, "fork_exec"),
]
if hasattr(subprocess, "_fork_exec"):
    ORIGINALS.append((subprocess, "_fork_exec"))


def test_after_the_blocker_everything_is_the_original_again() -> None:
    before = [getattr(owner, attr) for owner, attr in ORIGINALS]
    events = set(RUNTIME.subscribed_events())
    with hermetic_blocker(block_subprocess=True, allow_commands=["touch"]):
        during = [getattr(owner, attr) for owner, attr in ORIGINALS]
        assert all(d is not b for d, b in zip(during, before))
        with hermetic_blocker(block_subprocess=True):  # a second layer on top
            pass
    assert [getattr(owner, attr) for owner, attr in ORIGINALS] == before
    assert set(RUNTIME.subscribed_events()) == events
    subprocess.run(["true"], check=True)  # and it works again


def test_parked_layers_pass_everything_through() -> None:
    from hermetic._activation import ACTIVATION

    ACTIVATION.keep_installed(True)
    try:
        with hermetic_blocker(block_subprocess=True):
            pass
        assert RUNTIME.suspended  # parked: the patches stay, inert
        subprocess.run(["true"], check=True)
        assert os.spawnv(os.P_WAIT, "/bin/true", ["true"]) == 0
        with hermetic_blocker(block_subprocess=True), pytest.raises(RuntimeError):
            subprocess.run(["true"])
    finally:
        ACTIVATION.keep_installed(False)
    assert not RUNTIME.suspended


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.11+ binds fork_exec at import")
def test_subprocess_imported_under_the_guard_is_guarded_by_every_later_blocker() -> None:
    """Imported under the guard, ``subprocess._fork_exec`` keeps the guard's wrapper (inert
    once the blocker exits); a later blocker wraps it again, so calling it directly (no audit
    event) is still refused."""
    code = (
        "import os, sys\n"
        "from hermetic import hermetic_blocker\n"
        "with hermetic_blocker(block_subprocess=True):\n"
        "    import subprocess\n"
        "subprocess.run(['true'], check=True)\n"
        "r, w = os.pipe()\n"
        "args = (['/bin/true'], [b'/bin/true'], True, (), None, None, -1, -1, -1, -1, -1, -1,"
        " r, w, False, False, -1, None, None, None, -1, None, True)\n"
        "with hermetic_blocker(block_subprocess=True):\n"
        "    try:\n"
        "        subprocess._fork_exec(*args)\n"
        "    except RuntimeError as e:\n"
        "        print('refused', e.guard)\n"
        "os.waitpid(subprocess._fork_exec(*args), 0)\n"
        "print('ran again')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == ["refused subprocess", "ran again"]
