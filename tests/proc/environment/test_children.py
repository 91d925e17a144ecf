"""What child processes see: the variables the policy lets Python's machinery see.

Every way of starting a child without an explicit environment is run without the guard
(the child prints the secret) and under it (the child gets the allowed variables plus the
machinery's fixed list, without the secret); ``os.system``, which cannot be given an
environment, is refused, and the command it would have run leaves no file behind.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hermetic_testsupport.runs import GuardedRun

from .conftest import BLOCK, SECRET, EnvRun, refused, value, write_module

MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
POLICY = {**BLOCK, "allow_env": ["HT_ALLOWED"]}

CHILDMOD = """
import ctypes

def secret_seen(queue):
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    queue.put(libc.getenv(b"HT_SECRET"))
"""

SHOW = 'echo "[$HT_SECRET][$HT_ALLOWED]"'

CHILDREN = f"""
import asyncio, os, subprocess, sys
SHOW = {SHOW!r}
def shown(path):
    with open(path) as f:
        return f.read().strip()
def keep(label, fn):
    def run():
        report(label + " =", fn())
    attempt(label, run)

keep("subprocess.run", lambda: subprocess.run(
    ["sh", "-c", SHOW], capture_output=True, text=True).stdout.strip())
keep("subprocess.run shell=True", lambda: subprocess.run(
    SHOW, shell=True, capture_output=True, text=True).stdout.strip())
keep("subprocess.check_output", lambda: subprocess.check_output(
    ["sh", "-c", SHOW], text=True).strip())
keep("Popen", lambda: subprocess.Popen(
    ["sh", "-c", SHOW], stdout=subprocess.PIPE, text=True).communicate()[0].strip())
keep("os.popen", lambda: os.popen(SHOW).read().strip())
async def aio():
    proc = await asyncio.create_subprocess_shell(SHOW, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.decode().strip()
keep("asyncio subprocess", lambda: asyncio.run(aio()))
def spawnv():
    os.spawnv(os.P_WAIT, "/bin/sh", ["sh", "-c", SHOW + " > spawnv.out"])
    return shown("spawnv.out")
keep("os.spawnv", spawnv)
def fork_execv():
    pid = os.fork()
    if pid == 0:
        try:
            os.execv("/bin/sh", ["sh", "-c", SHOW + " > execv.out"])
        finally:
            os._exit(127)
    os.waitpid(pid, 0)
    return shown("execv.out")
keep("os.execv", fork_execv)
def execlp():
    pid = os.fork()
    if pid == 0:
        try:
            os.execlp("sh", "sh", "-c", SHOW + " > execlp.out")
        finally:
            os._exit(127)
    os.waitpid(pid, 0)
    return shown("execlp.out")
keep("os.execlp", execlp)
def spawn_context():
    import multiprocessing, childmod
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=childmod.secret_seen, args=(queue,))
    process.start()
    seen = queue.get(timeout=60)
    process.join(60)
    return None if seen is None else seen.decode()
keep("multiprocessing spawn", spawn_context)
def python_child():
    code = "import os; print(sorted(os.environ))"
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True,
                          text=True, check=True).stdout
keep("python child", python_child)
attempt("os.system", lambda: os.system(SHOW + " > system.out"))
report("os.system wrote", os.path.exists("system.out"))
def explicit():
    return subprocess.run(["sh", "-c", SHOW], env={{"HT_SECRET": "given"}},
                          capture_output=True, text=True).stdout.strip()
keep("an explicit env is the program's choice", explicit)
"""

LABELS = [
    "subprocess.run",
    "subprocess.run shell=True",
    "subprocess.check_output",
    "Popen",
    "os.popen",
    "asyncio subprocess",
    "os.spawnv",
    "os.execv",
    "os.execlp",
]


def seen(run: GuardedRun, label: str) -> Any:
    """What a child showed in case ``label``."""
    assert run.status(label) == "ok", (label, run.outcomes[label], run.stderr)
    return value(run, label + " =")


@MODES
def test_children_get_only_the_visible_variables(
    env_run: EnvRun, tmp_path: Path, mode: str
) -> None:
    write_module(tmp_path, "childmod", CHILDMOD)
    plain = env_run(mode, {}, CHILDREN)
    for label in LABELS:
        assert seen(plain, label) == f"[{SECRET}][allowed-value]", label
    assert seen(plain, "multiprocessing spawn") == SECRET
    assert "'HT_SECRET'" in seen(plain, "python child")
    assert plain.status("os.system") == "ok"
    assert value(plain, "os.system wrote") is True
    assert (tmp_path / "system.out").read_text().strip() == f"[{SECRET}][allowed-value]"
    (tmp_path / "system.out").unlink()

    run = env_run(mode, POLICY, CHILDREN)
    for label in LABELS:
        assert seen(run, label) == "[][allowed-value]", (label, run.stderr)
    assert seen(run, "multiprocessing spawn") is None
    child = seen(run, "python child")
    assert "'HT_SECRET'" not in child and "'HT_ALLOWED'" in child
    for name in ("'PATH'", "'HOME'", "'LANG'"):
        assert name in child, child
    assert ("'PYTHONPATH'" in child) == (mode == "bootstrap")  # the bootstrap is kept
    status, guard, _target = refused(run, "os.system")
    assert (status, guard) == ("blocked", "environment")
    assert "os.system(" in run.outcomes["os.system"][4]
    assert value(run, "os.system wrote") is False
    assert not (tmp_path / "system.out").exists()
    assert seen(run, "an explicit env is the program's choice") == "[given][]"


@MODES
def test_a_child_python_inherits_the_guard_in_the_bootstrap(env_run: EnvRun, mode: str) -> None:
    body = """
    import subprocess, sys
    code = "import os; print(os.environ.get('HT_ALLOWED')); print(os.environ.get('HT_SECRET'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    report("out", proc.stdout)
    report("refused", "PolicyViolation" in proc.stderr)
    """
    run = env_run(mode, POLICY, body)
    if mode == "bootstrap":  # the child reads under the same policy: refused
        assert value(run, "out") == "allowed-value\n"
        assert value(run, "refused") is True
    else:  # an unguarded child, but of an environment without the secret
        assert value(run, "out") == "allowed-value\nNone\n"


@MODES
def test_posix_spawn(env_run: EnvRun, mode: str) -> None:
    body = f"""
    import os
    def spawn(env, out):
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", {SHOW!r} + " > " + out], env)
        os.waitpid(pid, 0)
        with open(out) as f:
            return f.read().strip()
    attempt("os.environ", lambda: report("os.environ =", spawn(os.environ, "a.out")))
    attempt("explicit", lambda: report("explicit =", spawn({{"HT_ALLOWED": "x"}}, "b.out")))
    if {sys.version_info >= (3, 13)}:  # env=None inherits from 3.13 on
        attempt("None", lambda: report("None =", spawn(None, "c.out")))
    """
    plain = env_run(mode, {}, body)
    assert seen(plain, "os.environ") == f"[{SECRET}][allowed-value]"
    run = env_run(mode, POLICY, body)
    assert refused(run, "os.environ") == ("blocked", "environment", "*")
    assert seen(run, "explicit") == "[][x]"
    if sys.version_info >= (3, 13):
        assert seen(plain, "None") == f"[{SECRET}][allowed-value]"
        assert seen(run, "None") == "[][allowed-value]"
