"""What the filesystem guard does not mediate, shown for real (docs/guards/filesystem.md).

Each case demonstrates the gap: under the guard the operation still reads or writes outside
the policy. These tests pin the documented behaviour; if one starts failing because the gap
closed, update the documentation with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun


def tree(tmp_path: Path) -> tuple[Path, Path]:
    work = Path(os.path.realpath(tmp_path)) / "work"
    root, outside = work / "root", work / "outside"
    root.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside / "secret.txt", outside / "link")
    return root, outside


METADATA = """
import os
S = OUTSIDE + "/secret.txt"
attempt("stat", lambda: print("size", os.stat(S).st_size))
attempt("lstat", lambda: os.lstat(S))
attempt("exists", lambda: print("exists", os.path.exists(S)))
attempt("access", lambda: print("access", os.access(S, os.R_OK)))
attempt("readlink", lambda: print("readlink", os.readlink(OUTSIDE + "/link")))
attempt("open_refused", lambda: open(S).read())
"""


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_metadata_outside_the_root_stays_visible(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    root, outside = tree(tmp_path)
    body = f"OUTSIDE = {str(outside)!r}\n" + METADATA
    run = guarded(mode, {"fs_root": str(root)}, body, cwd=root)
    assert [run.status(k) for k in ("stat", "lstat", "exists", "access", "readlink")] == ["ok"] * 5
    assert "size 6" in run.stdout
    assert "exists True" in run.stdout
    assert f"readlink {outside}/secret.txt" in run.stdout
    assert run.status("open_refused") == "blocked"


SIDE_DOORS = """
import os, sqlite3, subprocess, ctypes
def attach():
    db = sqlite3.connect(":memory:")
    db.execute("ATTACH DATABASE ? AS other", (OUTSIDE + "/attached.db",))
    db.execute("create table other.t (x)")
    db.commit()
attempt("sqlite_attach", attach)
attempt("vacuum_into", lambda: sqlite3.connect(":memory:").execute(
    "VACUUM INTO ?", (OUTSIDE + "/vacuumed.db",)))
attempt("shell_child", lambda: subprocess.run(
    ["sh", "-c", 'echo child > "$0"', OUTSIDE + "/from_child.txt"], check=True))
def libc_creat():
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.creat((OUTSIDE + "/from_libc.txt").encode(), 0o644)
    assert fd >= 0, ctypes.get_errno()
    os.close(fd)
attempt("libc_creat", libc_creat)
attempt("open_refused", lambda: open(OUTSIDE + "/refused.txt", "w"))
"""


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_c_level_and_child_process_writes_are_not_seen(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    _root, outside = tree(tmp_path)
    body = f"OUTSIDE = {str(outside)!r}\n" + SIDE_DOORS
    run = guarded(mode, {"fs_readonly": True}, body, cwd=outside)
    labels = ("sqlite_attach", "vacuum_into", "shell_child", "libc_creat")
    assert [run.status(k) for k in labels] == ["ok"] * 4, run.stdout + run.stderr
    created = {"attached.db", "vacuumed.db", "from_child.txt", "from_libc.txt"}
    assert created <= set(os.listdir(outside))
    assert run.status("open_refused") == "blocked"
    assert not (outside / "refused.txt").exists()


WRITER = """
import os, sys
{enter}
os.write({fd}, b"written through an inherited descriptor")
try:
    open({path!r}, "a")
except Exception as exc:
    print(type(exc).__name__)
"""


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_descriptors_opened_before_the_guard_still_write(
    bare_python: str, tmp_path: Path, mode: str
) -> None:
    from hermetic.bootstrap import materialize
    from hermetic.policy import BlockConfig

    _root, outside = tree(tmp_path)
    target = outside / "log.txt"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    enter, python = "", bare_python
    if mode == "bootstrap":
        env["PYTHONPATH"] = materialize(BlockConfig(fs_readonly=True), root=str(tmp_path / "c"))
    else:
        enter = (
            "from hermetic import hermetic_blocker\nhermetic_blocker(fs_readonly=True).__enter__()"
        )
        python = sys.executable
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o644)  # opened before the guard
    try:
        code = WRITER.format(enter=enter, path=str(target), fd=fd)
        proc = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, env=env, pass_fds=(fd,)
        )
    finally:
        os.close(fd)
    assert proc.stdout.strip() == "PolicyViolation", proc.stderr
    assert target.read_text() == "written through an inherited descriptor"
