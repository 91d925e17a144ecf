"""Known ways around the environment guard, each proven both ways.

Every case first shows the trick works without the guard (the secret is really read, the C
environment really changes, a child really sees the secret), then what the guard does to
it. ``verdict="residual"`` cases assert that the trick STILL works under the guard, as
docs/guards/environment.md says: if one starts failing, the documentation must change.

Cases that need a reference taken before the guard existed run in this test process
(in the bootstrap the guard is installed before the program's first line); the others run
in a fresh interpreter in both delivery modes.
"""

from __future__ import annotations

import ctypes
import gc
import os
import posix
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import GuardedRun

Guarded = Callable[..., GuardedRun]
SECRET = "s3cr3t-value"
BLOCK: dict[str, Any] = {"block_environment": True}
SEALED: dict[str, Any] = {**BLOCK, "sealed": True}
ENV = {"HT_SECRET": SECRET}
MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])

#: For bodies: the C library's view of a variable, beside every guard.
C_GETENV = """
import ctypes as _ctypes
_libc = _ctypes.CDLL(None)
_libc.getenv.restype = _ctypes.c_char_p
def c_getenv(name):
    value = _libc.getenv(name.encode())
    return None if value is None else value.decode()
"""

_libc = ctypes.CDLL(None)
_libc.getenv.restype = ctypes.c_char_p


def c_getenv(name: str) -> str | None:
    """What the C library holds for ``name`` (ctypes: no guard sees it)."""
    found = _libc.getenv(name.encode())
    return None if found is None else bytes(found).decode()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``HT_SECRET`` set in this process for the test."""
    monkeypatch.setenv("HT_SECRET", SECRET)
    yield SECRET


def run_both(guarded: Guarded, mode: str, policy: dict[str, Any], body: str) -> GuardedRun:
    """Run ``body`` (with ``c_getenv``) without a guard and under ``policy``; check the first.

    The body calls ``attempt("x", ...)`` once; without the guard it must succeed.
    """
    full = C_GETENV + textwrap.dedent(body)
    plain = guarded(mode, {}, full, env=ENV)
    assert plain.status("x") == "ok", plain.stdout + plain.stderr
    return guarded(mode, policy, full, env=ENV)


def is_refused(run: GuardedRun, label: str = "x") -> bool:
    """Whether attempt ``label`` was refused by the environment guard."""
    return run.status(label) == "blocked" and run.guard(label) == "environment"


def reported(run: GuardedRun, label: str) -> Any:
    """A value the body printed as ``print("@" + label, repr(value))``."""
    for line in run.stdout.splitlines():
        if line.startswith(f"@{label} "):
            return line.split(" ", 1)[1]
    raise AssertionError(f"nothing reported as {label!r}: {run.stdout} {run.stderr}")


# -- references captured before the guard (in-process) -----------------------------------


@pytest.mark.bypass(
    "environment", "environ and its methods captured before", verdict="blocked", layer="patch"
)
def test_references_captured_before_the_blocker(secret: str) -> None:
    from os import environ

    getenv, get, getenvb = os.getenv, os.environ.get, os.getenvb
    reads: list[Callable[[], object]] = [
        lambda: environ["HT_SECRET"],
        lambda: getenv("HT_SECRET"),
        lambda: get("HT_SECRET"),
        lambda: getenvb(b"HT_SECRET"),
        lambda: dict(environ),
    ]
    for read in reads:
        assert SECRET in repr(read())
    with hermetic_blocker(**BLOCK):
        for read in reads:
            with pytest.raises(PolicyViolation) as info:
                read()
            assert info.value.guard == "environment"


@pytest.mark.bypass(
    "environment", "a method of os._Environ taken before", verdict="residual", layer="none"
)
def test_known_gap_a_method_taken_before_the_blocker(secret: str) -> None:
    unbound = type(os.environ).__getitem__
    bound = os.environ.__getitem__
    with hermetic_blocker(**BLOCK):
        with pytest.raises(PolicyViolation):
            os.environ["HT_SECRET"]
        # the original function, fetched before the patch: no layer sees the call
        assert unbound(os.environ, "HT_SECRET") == SECRET
        assert bound("HT_SECRET") == SECRET


@pytest.mark.bypass(
    "environment", "posix.environ captured before", verdict="residual", layer="none"
)
def test_known_gap_posix_environ_captured_before_the_blocker(secret: str) -> None:
    raw = posix.environ  # the very dict under os.environ (os.environ._data)
    with hermetic_blocker(**BLOCK):
        with pytest.raises(PolicyViolation):
            posix.environ[b"HT_SECRET"]
        assert raw[b"HT_SECRET"] == SECRET.encode()
    assert posix.environ is raw  # and the guard put the module attribute back


@pytest.mark.bypass("environment", "os.putenv captured before", verdict="blocked", layer="audit")
def test_write_functions_captured_before_the_blocker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HT_DOOMED", "doomed")
    putenv, unsetenv = os.putenv, os.unsetenv
    with hermetic_blocker(**BLOCK):
        with pytest.raises(PolicyViolation, match=r"set HT_NEW through os\.putenv"):
            putenv("HT_NEW", "x")
        with pytest.raises(PolicyViolation, match=r"unset HT_DOOMED through os\.unsetenv"):
            unsetenv("HT_DOOMED")
    assert c_getenv("HT_NEW") is None and c_getenv("HT_DOOMED") == "doomed"
    putenv("HT_NEW", "x")  # and without the guard they work
    assert c_getenv("HT_NEW") == "x"
    unsetenv("HT_NEW")


@pytest.mark.bypass(
    "environment", "_posixsubprocess.fork_exec captured before", verdict="residual", layer="none"
)
def test_known_gap_fork_exec_captured_before_the_blocker(secret: str) -> None:
    import _posixsubprocess

    fork_exec = _posixsubprocess.fork_exec

    def child_sees() -> str:
        # subprocess on 3.11+ keeps its own reference; put the captured one in its place
        saved = getattr(subprocess, "_fork_exec", None)
        if saved is not None:
            subprocess._fork_exec = fork_exec  # type: ignore[attr-defined]
        saved_module = _posixsubprocess.fork_exec
        _posixsubprocess.fork_exec = fork_exec
        try:
            cmd = ["sh", "-c", 'echo "[$HT_SECRET]"']
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        finally:
            _posixsubprocess.fork_exec = saved_module
            if saved is not None:
                subprocess._fork_exec = saved  # type: ignore[attr-defined]

    with hermetic_blocker(**BLOCK):
        cmd = ["sh", "-c", 'echo "[$HT_SECRET]"']
        assert subprocess.run(cmd, capture_output=True, text=True).stdout.strip() == "[]"
        assert child_sees() == f"[{SECRET}]"  # the C code inherits the whole environment


# -- the C-level module and the raw storage ------------------------------------------------


@pytest.mark.bypass("environment", "posix.environ", verdict="blocked", layer="patch")
@MODES
def test_the_posix_module_environ(guarded: Guarded, mode: str) -> None:
    body = "import posix\nattempt('x', lambda: print('@v', posix.environ[b'HT_SECRET']))\n"
    run = run_both(guarded, mode, BLOCK, body)
    assert is_refused(run) and SECRET not in run.stdout


@pytest.mark.bypass(
    "environment", "posix.putenv and posix.unsetenv", verdict="blocked", layer="audit"
)
@MODES
def test_the_posix_module_writes(guarded: Guarded, mode: str) -> None:
    body = """
    import posix
    def write():
        posix.putenv(b"HT_NEW", b"x")
    attempt("x", write)
    attempt("unset", lambda: posix.unsetenv(b"HT_SECRET"))
    print("@after", c_getenv("HT_NEW"), c_getenv("HT_SECRET") is not None)
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert is_refused(run) and is_refused(run, "unset")
    assert reported(run, "after") == "None True"


@pytest.mark.bypass("environment", "os.environ._data", verdict="residual", layer="none")
@MODES
def test_known_gap_the_storage_under_os_environ(guarded: Guarded, mode: str) -> None:
    body = "import os\nattempt('x', lambda: print('@v', os.environ._data[b'HT_SECRET']))\n"
    run = run_both(guarded, mode, BLOCK, body)
    assert run.status("x") == "ok" and reported(run, "v") == repr(SECRET.encode())


@pytest.mark.bypass("environment", "ctypes getenv", verdict="residual", layer="none")
@MODES
def test_known_gap_ctypes_getenv(guarded: Guarded, mode: str) -> None:
    body = "attempt('x', lambda: print('@v', c_getenv('HT_SECRET')))\n"
    run = run_both(guarded, mode, BLOCK, body)
    assert run.status("x") == "ok" and reported(run, "v") == SECRET


@pytest.mark.bypass("environment", "ctypes setenv", verdict="residual", layer="none")
@MODES
def test_known_gap_ctypes_setenv(guarded: Guarded, mode: str) -> None:
    body = """
    attempt("x", lambda: _libc.setenv(b"HT_NEW", b"set from C", 1))
    print("@v", c_getenv("HT_NEW"))
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert run.status("x") == "ok" and reported(run, "v") == "set from C"


@pytest.mark.bypass("environment", "ctypes system", verdict="residual", layer="none")
@MODES
def test_known_gap_a_child_started_from_c(guarded: Guarded, mode: str) -> None:
    body = """
    attempt("x", lambda: _libc.system(b'echo "@v [$HT_SECRET]"'))
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert run.status("x") == "ok" and reported(run, "v") == f"[{SECRET}]"


@pytest.mark.bypass(
    "environment", "posix.system and an env-less posix.execv", verdict="blocked", layer="audit"
)
@MODES
def test_c_level_children_that_would_inherit(guarded: Guarded, mode: str, tmp_path: Any) -> None:
    body = """
    import os, posix, sys
    attempt("x", lambda: posix.system(b'echo "[$HT_SECRET]" > system.out'))
    def execv_in_a_child():
        pid = os.fork()
        if pid == 0:
            try:
                posix.execv("/bin/sh", ["sh", "-c", 'echo "[$HT_SECRET]" > execv.out'])
            except BaseException:
                os._exit(3)
        code = os.waitpid(pid, 0)[1] >> 8
        print("@code", code, os.path.exists("execv.out"))
    attempt("execv", execv_in_a_child)
    if hasattr(posix, "posix_spawn") and sys.version_info >= (3, 13):  # None: inherit
        attempt("spawn", lambda: posix.posix_spawn(
            "/bin/sh", ["sh", "-c", 'echo "[$HT_SECRET]" > spawn.out'], None))
    """
    plain = guarded(mode, {}, C_GETENV + textwrap.dedent(body), env=ENV)
    assert plain.status("x") == "ok" and reported(plain, "code") == "0 True"
    outputs = ["system.out", "execv.out"] + (["spawn.out"] if sys.version_info >= (3, 13) else [])
    time.sleep(0.2)  # the spawned shell is not waited for
    for name in outputs:
        assert (tmp_path / name).read_text().strip() == f"[{SECRET}]"
        (tmp_path / name).unlink()
    run = guarded(mode, BLOCK, C_GETENV + textwrap.dedent(body), env=ENV)
    assert is_refused(run)
    # refused in a forked child, the exec ends the child (126) instead of raising
    assert reported(run, "code") == "126 False"
    assert "would pass on the whole environment" in run.stderr
    if sys.version_info >= (3, 13):
        assert is_refused(run, "spawn")
    time.sleep(0.2)
    assert not any((tmp_path / name).exists() for name in outputs)


# -- a fresh os module -----------------------------------------------------------------


@pytest.mark.bypass("environment", "importlib.reload(os)", verdict="blocked", layer="audit")
@MODES
def test_reloading_os(guarded: Guarded, mode: str) -> None:
    body = """
    import importlib, os
    def reload_and_read():
        importlib.reload(os)
        print("@v", os.environ["HT_SECRET"])
    attempt("x", reload_and_read)
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert is_refused(run) and run.outcomes["x"][3] == "os" and SECRET not in run.stdout


@pytest.mark.bypass(
    "environment", "sys.modules: a fresh copy of os", verdict="blocked", layer="audit"
)
@MODES
def test_a_fresh_os_module(guarded: Guarded, mode: str) -> None:
    body = """
    import importlib.util, os, sys
    def fresh_copy():
        spec = importlib.util.find_spec("os")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["os"] = module
        import os as again
        print("@v", again.environ["HT_SECRET"])
    attempt("x", fresh_copy)
    def reimport():
        saved = sys.modules.pop("os")
        try:
            import os as again
            print("@v2", again.environ["HT_SECRET"])
        finally:
            sys.modules["os"] = saved
    attempt("reimport", reimport)
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert is_refused(run) and is_refused(run, "reimport")
    assert SECRET not in run.stdout


@pytest.mark.bypass(
    "environment", "os.py run again under another name", verdict="blocked", layer="patch"
)
@MODES
def test_the_os_source_run_again_under_another_name(guarded: Guarded, mode: str) -> None:
    body = """
    import os
    def rerun():
        with open(os.__file__) as f:
            namespace = {"__name__": "os_again"}
            exec(compile(f.read(), "not_os.py", "exec"), namespace)
        print("@v", namespace["environ"]["HT_SECRET"])
    attempt("x", rerun)
    """
    run = run_both(guarded, mode, BLOCK, body)
    # a new os._Environ class, but over posix.environ, which is itself guarded
    assert is_refused(run) and run.outcomes["x"][3] == "HT_SECRET"
    assert SECRET not in run.stdout


# -- undoing the patches ---------------------------------------------------------------


def _original_getitem() -> Callable[..., Any]:
    """The unpatched ``os._Environ.__getitem__``, found the way a program could find it."""
    for obj in gc.get_objects():
        code = getattr(obj, "__code__", None)
        if (
            getattr(obj, "__qualname__", None) == "_Environ.__getitem__"
            and getattr(code, "co_name", None) == "__getitem__"  # not a wrapper's copy
        ):
            return obj  # type: ignore[no-any-return]
    raise AssertionError("not found")


UNDO = """
import gc, os
def original(name):
    for obj in gc.get_objects():
        if getattr(obj, "__qualname__", None) == "_Environ." + name and (
            getattr(getattr(obj, "__code__", None), "co_name", None) == name
        ):
            return obj
def undo():
    for name in ("__getitem__", "__setitem__", "__delitem__", "__iter__", "__len__"):
        setattr(type(os.environ), name, original(name))
undo()
attempt("x", lambda: print("@read", os.environ["HT_SECRET"]))
attempt("list", lambda: print("@listed", "HT_SECRET" in list(os.environ)))
def write():
    os.environ["HT_NEW"] = "x"
attempt("write", write)
print("@after", c_getenv("HT_NEW"))
attempt("system", lambda: os.system("true"))
"""


@pytest.mark.bypass(
    "environment", "patches undone by hand: reads", verdict="residual", layer="none"
)
def test_known_gap_reads_once_the_patches_are_undone(secret: str) -> None:
    assert _original_getitem()(os.environ, "HT_SECRET") == SECRET
    with hermetic_blocker(**BLOCK):
        patched = type(os.environ).__getitem__
        type(os.environ).__getitem__ = _original_getitem()  # type: ignore[method-assign]
        try:
            assert os.environ["HT_SECRET"] == SECRET
        finally:
            type(os.environ).__getitem__ = patched  # type: ignore[method-assign]
        with pytest.raises(PolicyViolation):
            os.environ["HT_SECRET"]


@pytest.mark.bypass(
    "environment", "patches undone, sealed: writes and children", verdict="blocked", layer="audit"
)
@pytest.mark.parametrize("sealed", [False, True], ids=["unsealed", "sealed"])
@MODES
def test_what_stays_blocked_once_the_patches_are_undone(
    guarded: Guarded, mode: str, sealed: bool
) -> None:
    policy = SEALED if sealed else BLOCK
    plain = guarded(mode, {}, C_GETENV + UNDO, env=ENV)
    assert [plain.status(k) for k in ("x", "list", "write", "system")] == ["ok"] * 4
    assert reported(plain, "after") == "x"
    run = guarded(mode, policy, C_GETENV + UNDO, env=ENV)
    # the residual: reads (no audit event exists for them)
    assert run.status("x") == "ok" and reported(run, "read") == SECRET
    assert run.status("list") == "ok" and reported(run, "listed") == "True"
    # what the audit layer keeps refusing
    assert is_refused(run, "write") and reported(run, "after") == "None"
    assert is_refused(run, "system")


# -- threads, copies, disguised keys, impersonation --------------------------------------


@pytest.mark.bypass("environment", "a new thread", verdict="blocked", layer="patch")
@MODES
def test_a_thread_started_under_the_guard(guarded: Guarded, mode: str) -> None:
    body = """
    import os, threading
    def in_a_thread():
        out = []
        def read():
            try:
                out.append(os.environ["HT_SECRET"])
            except BaseException as e:
                out.append(e)
        t = threading.Thread(target=read)
        t.start()
        t.join()
        if isinstance(out[0], BaseException):
            raise out[0]
        print("@v", out[0])
    attempt("x", in_a_thread)
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert is_refused(run)


@pytest.mark.bypass(
    "environment", "a thread started before the blocker", verdict="blocked", layer="patch"
)
def test_a_thread_that_existed_before_the_blocker(secret: str) -> None:
    go, done = threading.Event(), threading.Event()
    seen: list[object] = []

    def read() -> None:
        go.wait(10)
        try:
            seen.append(os.environ["HT_SECRET"])
        except PolicyViolation as e:
            seen.append(e)
        done.set()

    thread = threading.Thread(target=read)
    thread.start()
    with hermetic_blocker(**BLOCK):
        go.set()
        done.wait(10)
    thread.join(10)
    assert isinstance(seen[0], PolicyViolation)


@pytest.mark.bypass(
    "environment", "keys that lie (str and bytes subclasses)", verdict="blocked", layer="patch"
)
@MODES
def test_keys_that_lie(guarded: Guarded, mode: str) -> None:
    body = """
    import os
    class Liar(str):
        def encode(self, *args):  # what os encodes the key to, to look it up
            return b"HT_SECRET"
    class Collider(bytes):
        def __hash__(self):
            return hash(b"HT_SECRET")
        def __eq__(self, other):
            return True
    def lie():
        print("@v", os.environ[Liar("HT_ALLOWED")], os.environb[Collider(b"HT_ALLOWED")])
    attempt("x", lie)
    """
    plain = guarded(mode, {}, C_GETENV + textwrap.dedent(body), env={**ENV, "HT_ALLOWED": "a"})
    assert plain.status("x") == "ok" and SECRET in reported(plain, "v")
    policy = {**BLOCK, "allow_env": ["HT_ALLOWED"]}
    run = guarded(mode, policy, C_GETENV + textwrap.dedent(body), env={**ENV, "HT_ALLOWED": "a"})
    assert run.status("x") == "ok" and reported(run, "v") == "a b'a'"  # the key as written


@pytest.mark.bypass("environment", "a copy of os.environ", verdict="blocked", layer="patch")
@MODES
def test_a_copy_of_the_mapping_object(guarded: Guarded, mode: str) -> None:
    body = """
    import copy, os
    attempt("x", lambda: print("@v", copy.copy(os.environ)["HT_SECRET"]))
    attempt("new", lambda: print("@v2", type(os.environ)(
        os.environ._data, os.fsencode, os.fsdecode, os.fsencode, os.fsdecode)["HT_SECRET"]))
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert is_refused(run) and is_refused(run, "new")


@pytest.mark.bypass(
    "environment", "globals that impersonate the stdlib", verdict="blocked", layer="patch"
)
@MODES
def test_impersonating_the_standard_library(guarded: Guarded, mode: str) -> None:
    body = """
    import os
    forged = {"__name__": "tempfile", "__file__": os.__file__, "os": os}
    exec("def read(name):\\n    return os.environ.get(name)", forged)
    def impersonate():
        value = forged["read"]("HT_SECRET")
        print("@v", value)
        print("@path", forged["read"]("PATH") is not None)
        if value is None:
            raise LookupError("answered as absent")
    attempt("x", impersonate)
    """
    run = run_both(guarded, mode, BLOCK, body)
    # the machinery's answer: the secret is absent, only its non-secret variables show
    assert run.outcomes["x"][1:3] == ["error", "LookupError"]
    assert reported(run, "v") == "None" and reported(run, "path") == "True"


@pytest.mark.bypass(
    "environment", "builtins swapped in the caller's globals", verdict="blocked", layer="patch"
)
@MODES
def test_builtins_tricks_do_not_change_who_is_asking(guarded: Guarded, mode: str) -> None:
    body = """
    import builtins, os, types
    fake = types.ModuleType("builtins")
    fake.__dict__.update(vars(builtins))
    namespace = {"__builtins__": fake, "os": os}
    exec("def read():\\n    return os.environ['HT_SECRET']", namespace)
    attempt("x", lambda: print("@v", namespace["read"]()))
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert is_refused(run)


@pytest.mark.bypass(
    "environment", "a multiprocessing spawn child", verdict="blocked", layer="patch"
)
@MODES
def test_a_spawned_child(guarded: Guarded, mode: str, tmp_path: Any) -> None:
    (tmp_path / "spawnchild.py").write_text(
        "import ctypes\n"
        "def seen(queue):\n"
        "    libc = ctypes.CDLL(None)\n"
        "    libc.getenv.restype = ctypes.c_char_p\n"
        "    queue.put(libc.getenv(b'HT_SECRET'))\n"
    )
    body = """
    import multiprocessing, spawnchild
    def spawn():
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        process = context.Process(target=spawnchild.seen, args=(queue,))
        process.start()
        print("@v", queue.get(timeout=60))
        process.join(60)
    attempt("x", spawn)
    """
    plain = guarded(mode, {}, C_GETENV + textwrap.dedent(body), env=ENV)
    assert reported(plain, "v") == repr(SECRET.encode())
    run = guarded(mode, BLOCK, C_GETENV + textwrap.dedent(body), env=ENV)
    assert run.status("x") == "ok" and reported(run, "v") == "None"


@pytest.mark.bypass("environment", "os.execve with os.environ", verdict="blocked", layer="patch")
@MODES
def test_handing_os_environ_to_a_child(guarded: Guarded, mode: str) -> None:
    body = """
    import os
    def execve():
        pid = os.fork()
        if pid == 0:
            try:
                os.execve("/bin/sh", ["sh", "-c", 'echo "@v [$HT_SECRET]"'], os.environ)
            except BaseException:
                os._exit(3)
        code = os.waitpid(pid, 0)[1] >> 8
        if code:
            raise RuntimeError(code)
    attempt("x", execve)
    """
    run = run_both(guarded, mode, BLOCK, body)
    assert run.outcomes["x"][1:4] == ["error", "RuntimeError", "3"]  # refused in the child
    assert SECRET not in run.stdout
