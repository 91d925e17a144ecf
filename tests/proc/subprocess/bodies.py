"""Bodies for the subprocess guard's tests: each case leaves a marker file when it runs.

Every case of a body starts a program (or forks) whose only effect is to create the file
``M`` (its marker, under the run's marker directory): ``touch M``, a fork child that creates
it, a multiprocessing worker that makes it with ``os.mkdir``. So "it ran" and "it was
refused" are both checked on the disk: :func:`markers` lists what the children really made.

Without the guard, ``os.exec*`` cases run in a fork child (an exec in the run itself would
end it); under the guard they run in the run's own process, where the refusal must happen.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

#: The real path of ``touch``, the program most cases run.
TOUCH = os.path.realpath(shutil.which("touch") or "/usr/bin/touch")
#: The real path of the interpreter behind this test run (and behind the bare venv).
PYTHON = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)

HELPERS = """
import asyncio, os, sys, subprocess, pty, posix, multiprocessing, multiprocessing.util
import concurrent.futures
import _posixsubprocess

def mark(label):
    return os.path.join(MARK, "".join(c if c.isalnum() or c in "._-" else "_" for c in label))

def wait(pid):
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status

def create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))

def forked(fork, path):
    pid = fork()
    if pid == 0:
        try:
            create(path)
        finally:
            os._exit(0)
    wait(pid)

def execs(call):
    if GUARDED:
        call()  # the refusal must happen here, in this process
        return
    pid = os.fork()
    if pid == 0:
        try:
            call()
        finally:
            os._exit(99)
    wait(pid)

def fork_exec(argv):
    r, w = os.pipe()
    tail = (-1, None, None, None, -1, None, True) if sys.version_info >= (3, 11) else (
        None, None, None, -1, None)
    try:
        return _posixsubprocess.fork_exec(
            argv, [os.fsencode(argv[0])], True, (), None, None,
            -1, -1, -1, -1, -1, -1, r, w, False, False, *tail)
    finally:
        os.close(r)
        os.close(w)

def process(method, path):
    p = multiprocessing.get_context(method).Process(target=os.mkdir, args=(path,))
    p.start()
    p.join()
    assert p.exitcode == 0, p.exitcode

def pool(path):
    with concurrent.futures.ProcessPoolExecutor(1) as executor:
        executor.submit(os.mkdir, path).result()

async def aexec(path):
    p = await asyncio.create_subprocess_exec("touch", path)
    assert await p.wait() == 0

async def ashell(path):
    p = await asyncio.create_subprocess_shell("touch " + path)
    assert await p.wait() == 0
"""


def body(
    cases: dict[str, str], marks: Path, *, guarded: bool, extra: Mapping[str, object] | None = None
) -> str:
    """A run's body: the helpers, then one ``attempt`` per case (``M`` is its marker)."""
    constants = {"MARK": str(marks), "TOUCH": TOUCH, "GUARDED": guarded, **(extra or {})}
    parts = [HELPERS, *(f"{k} = {v!r}" for k, v in constants.items())]
    for i, (label, code) in enumerate(cases.items()):
        parts.append(
            f"def case_{i}():\n    M = mark({label!r})\n"
            + textwrap.indent(textwrap.dedent(code).strip(), "    ")
        )
        parts.append(f"attempt({label!r}, case_{i})")
    return "\n".join(parts) + "\n"


def stored(label: str) -> str:
    """The name of a label's marker file (what ``mark(label)`` in a body makes)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label)


def markers(marks: Path) -> set[str]:
    """The marker files that exist (see :func:`stored`)."""
    return set(os.listdir(marks)) if marks.exists() else set()


def fresh(where: Path) -> Path:
    """An empty marker directory ``where`` (real path)."""
    where.mkdir(parents=True, exist_ok=True)
    return Path(os.path.realpath(where))
