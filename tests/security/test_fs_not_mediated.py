"""What the filesystem guard does not mediate, shown for real (docs/guards/filesystem.md).

Each case demonstrates the gap: under the guard the operation still reads or writes outside
the policy, while an ordinary ``open`` in the same run is refused (the guard is on). These
tests pin the documented behaviour; if one starts failing because the gap closed, update
the documentation with it. The last case is the same C-level write under ``block_native``,
where the imports guard refuses ``ctypes`` itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from security.support import Batch, Paths, require_options


def tree(work: Path) -> Paths:
    work = Path(os.path.realpath(work))
    root, outside = work / "root", work / "outside"
    root.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside / "secret.txt", outside / "link")
    return {"root": root, "outside": outside}


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


@pytest.mark.bypass(
    "filesystem",
    "metadata outside the root (stat, lstat, exists, access, readlink)",
    verdict="residual",
    layer="none",
)
def test_known_gap_metadata_outside_the_root_stays_visible(batch: Callable[..., Batch]) -> None:
    metadata = batch(
        METADATA, {"root": lambda p: {"fs_root": str(p["root"])}}, tree=tree, cwd="root"
    )
    labels = ("stat", "lstat", "exists", "access", "readlink")
    for outcome in metadata.escapes(*labels):
        assert outcome.status("open_refused") == "blocked"
        assert "size 6" in outcome.run.stdout
        assert "exists True" in outcome.run.stdout
        assert f"readlink {outcome.paths['outside']}/secret.txt" in outcome.run.stdout


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


@pytest.fixture(scope="module")
def side_doors(batch: Callable[..., Batch]) -> Batch:
    return batch(SIDE_DOORS, {"readonly": {"fs_readonly": True}}, tree=tree, cwd="outside")


def escaped(side_doors: Batch, label: str, created: str) -> None:
    for outcome in side_doors.escapes(label):
        assert created in os.listdir(outcome.paths["outside"]), outcome.why()
        assert outcome.status("open_refused") == "blocked"
        assert "refused.txt" not in os.listdir(outcome.paths["outside"])


@pytest.mark.bypass(
    "filesystem", "SQLite ATTACH DATABASE creating a file", verdict="residual", layer="none"
)
def test_known_gap_sqlite_attach(side_doors: Batch) -> None:
    escaped(side_doors, "sqlite_attach", "attached.db")


@pytest.mark.bypass(
    "filesystem", "SQLite VACUUM INTO creating a file", verdict="residual", layer="none"
)
def test_known_gap_sqlite_vacuum_into(side_doors: Batch) -> None:
    escaped(side_doors, "vacuum_into", "vacuumed.db")


@pytest.mark.bypass(
    "filesystem", "a child process that is not Python (sh -c)", verdict="residual", layer="none"
)
def test_known_gap_a_shell_child_writes(side_doors: Batch) -> None:
    escaped(side_doors, "shell_child", "from_child.txt")


@pytest.mark.bypass("filesystem", "ctypes calling libc creat()", verdict="residual", layer="none")
def test_known_gap_libc_called_through_ctypes(side_doors: Batch) -> None:
    escaped(side_doors, "libc_creat", "from_libc.txt")


LIBC_CREAT = """
import os
def libc_creat():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.creat((OUTSIDE + "/from_libc.txt").encode(), 0o644)
    assert fd >= 0, ctypes.get_errno()
    os.close(fd)
attempt("libc_creat", libc_creat)
"""


@pytest.mark.bypass(
    "filesystem",
    "ctypes calling libc creat() under block_native (the imports guard)",
    verdict="blocked",
    layer="audit",
)
def test_ctypes_is_refused_under_block_native(batch: Callable[..., Batch]) -> None:
    require_options("block_native")
    native = batch(
        LIBC_CREAT,
        {"block_native": {"fs_readonly": True, "block_native": True}},
        tree=tree,
        cwd="outside",
    )
    assert "from_libc.txt" in os.listdir(native.works_off("libc_creat").paths["outside"])
    for outcome in native.blocked("imports", "libc_creat"):
        assert "from_libc.txt" not in os.listdir(outcome.paths["outside"])


WRITER = """
import os, sys
{enter}
os.write({fd}, b"written through an inherited descriptor")
try:
    open({path!r}, "a")
except Exception as exc:
    print(type(exc).__name__)
"""


@pytest.mark.bypass(
    "filesystem",
    "descriptors opened before the guard (inherited ones included)",
    verdict="residual",
    layer="none",
)
@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_known_gap_descriptors_opened_before_the_guard_still_write(
    bare_python: str, tmp_path: Path, mode: str
) -> None:
    from hermetic.bootstrap import materialize
    from hermetic.policy import BlockConfig

    outside = tree(tmp_path / "work")["outside"]
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
