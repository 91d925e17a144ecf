"""Every write the issue lists, refused outside ``allow_write`` and allowed inside it.

Each operation runs on its own directory (``<base>/<label>/`` holding ``f``, a file, ``d``,
an empty directory, and ``tree/x/y``), so the disk proves each outcome: under the guard the
target tree is byte-for-byte unchanged, inside ``allow_write`` every operation changes its
directory, and without the guard the same operations change the same tree.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

from .conftest import Layout, snapshot

#: label -> code run with P (the case's directory), f (a file) and d (an empty directory).
WRITES = {
    "open_w": 'open(P + "/new", "w").close()',
    "open_a": 'open(f, "a").write("more")',
    "open_x": 'open(P + "/new", "x").close()',
    "open_r_plus": 'open(f, "r+").write("X")',
    "open_pathlike_wb": 'open(pathlib.Path(P, "new"), "wb").close()',
    "io_open": 'io.open(P + "/new", "w").close()',
    "io_FileIO": 'io.FileIO(P + "/new", "w").close()',
    "_io_FileIO": '_io.FileIO(P + "/new", "w").close()',
    "pathlib_write_text": 'pathlib.Path(P, "new").write_text("x")',
    "pathlib_write_bytes": 'pathlib.Path(P, "new").write_bytes(b"x")',
    "pathlib_touch": 'pathlib.Path(P, "new").touch()',
    "pathlib_open_a": 'pathlib.Path(f).open("a").write("more")',
    # Relative to the working directory (the allowed one); os.open under pathlib on 3.9.
    "pathlib_relative_touch": 'pathlib.Path(os.path.relpath(P + "/new")).touch()',
    "pathlib_mkdir": 'pathlib.Path(P, "newdir").mkdir()',
    "pathlib_unlink": "pathlib.Path(f).unlink()",
    "pathlib_rename": 'pathlib.Path(f).rename(P + "/g")',
    "os_open_creat": 'os.close(os.open(P + "/new", os.O_WRONLY | os.O_CREAT))',
    "os_open_rdwr": 'fd = os.open(f, os.O_RDWR); os.write(fd, b"X"); os.close(fd)',
    "os_open_trunc": "os.close(os.open(f, os.O_WRONLY | os.O_TRUNC))",
    "os_open_append": 'fd = os.open(f, os.O_WRONLY | os.O_APPEND); os.write(fd, b"X")',
    # The working directory is the allowed one: resolved against it, "new" would pass.
    "os_open_dir_fd": (
        'fd = os.open(P, os.O_RDONLY); os.open("new", os.O_WRONLY | os.O_CREAT, dir_fd=fd)'
    ),
    "os_remove": "os.remove(f)",
    "os_unlink": "os.unlink(f)",
    "os_unlink_dir_fd": 'fd = os.open(P, os.O_RDONLY); os.unlink("f", dir_fd=fd)',
    "os_rmdir": "os.rmdir(d)",
    "os_removedirs": "os.removedirs(d)",
    "os_rename": 'os.rename(f, P + "/g")',
    "os_renames": 'os.renames(f, P + "/sub/g")',
    "os_replace": 'os.replace(f, P + "/g")',
    "os_mkdir": 'os.mkdir(P + "/newdir")',
    "os_makedirs": 'os.makedirs(P + "/a/b")',
    "os_symlink": 'os.symlink(f, P + "/ln")',
    "os_link": 'os.link(f, P + "/hard")',
    "os_chmod": "os.chmod(f, 0o600)",
    "os_fchmod": "fd = os.open(f, os.O_RDONLY); os.fchmod(fd, 0o600)",
    "os_chown": "os.chown(f, os.getuid(), os.getgid())",
    "os_truncate": "os.truncate(f, 0)",
    "os_utime": "os.utime(f, (1, 1))",
    "os_futime": "fd = os.open(f, os.O_RDONLY); os.utime(fd, (1, 1))",
    "os_setxattr": 'os.setxattr(f, "user.hermetic", b"1")',
    "os_mkfifo": 'os.mkfifo(P + "/fifo")',
    "os_mknod": 'os.mknod(P + "/node", stat.S_IFIFO | 0o600)',
    "shutil_copyfile": 'shutil.copyfile(f, P + "/g")',
    "shutil_copy2": 'shutil.copy2(f, P + "/g")',
    "shutil_copytree": 'shutil.copytree(d, P + "/d2")',
    "shutil_move": 'shutil.move(f, P + "/g")',
    "shutil_rmtree": 'shutil.rmtree(P + "/tree")',
    "shutil_make_archive": 'shutil.make_archive(P + "/arch", "zip", d)',
    "tempfile_mkstemp": "tempfile.mkstemp(dir=P)",
    "tempfile_mkdtemp": "tempfile.mkdtemp(dir=P)",
    "tempfile_NamedTemporaryFile": "tempfile.NamedTemporaryFile(dir=P, delete=False).close()",
    "tempfile_TemporaryFile": "tempfile.TemporaryFile(dir=P).close()",
    "tempfile_TemporaryDirectory": "tempfile.TemporaryDirectory(dir=P).cleanup()",
    "sqlite3_connect": 'sqlite3.connect(P + "/db.sqlite").execute("create table t (x)")',
    "zipfile_write": 'zipfile.ZipFile(P + "/z.zip", "w").close()',
}
#: Operations that succeed unguarded but leave nothing behind to see.
LEAVE_NO_TRACE = {"os_chown", "tempfile_TemporaryFile", "tempfile_TemporaryDirectory"}

POLICY_MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])


def prepare(base: Path) -> None:
    for label in WRITES:
        case = base / label
        (case / "d").mkdir(parents=True)
        (case / "tree" / "x").mkdir(parents=True)
        (case / "tree" / "x" / "y").write_text("y")
        (case / "f").write_text("original")
        (case / "f").chmod(0o644)


def body(base: Path) -> str:
    lines = [
        "import os, io, _io, pathlib, shutil, stat, sqlite3, tempfile, zipfile",
        f"BASE = {str(base)!r}",
    ]
    for label, code in WRITES.items():
        lines += [
            f"def case_{label}():",
            f"    P = os.path.join(BASE, {label!r}); f = P + '/f'; d = P + '/d'",
            textwrap.indent(code.replace("; ", "\n"), "    "),
            f"attempt({label!r}, case_{label})",
        ]
    return "\n".join(lines) + "\n"


def policy(layout: Layout) -> dict[str, object]:
    return {"fs_readonly": True, "allow_write": [str(layout.allowed)]}


@POLICY_MODES
def test_every_write_outside_allow_write_is_refused_and_changes_nothing(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    prepare(layout.target)
    before = snapshot(layout.target)
    run = guarded(mode, policy(layout), body(layout.target), cwd=layout.allowed)
    refused = {label for label in WRITES if run.status(label) == "blocked"}
    assert refused == set(WRITES), (sorted(set(WRITES) - refused), run.stderr)
    assert {run.guard(label) for label in WRITES} == {"filesystem"}
    assert snapshot(layout.target) == before


@POLICY_MODES
def test_every_write_inside_allow_write_still_works(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    base = layout.allowed / "cases"
    prepare(base)
    before = {label: snapshot(base / label) for label in WRITES}
    run = guarded(mode, policy(layout), body(base), cwd=layout.allowed)
    failed = {label: run.outcomes[label] for label in WRITES if run.status(label) != "ok"}
    assert not failed, run.stderr
    unchanged = {
        label
        for label in WRITES
        if label not in LEAVE_NO_TRACE and snapshot(base / label) == before[label]
    }
    assert not unchanged


def test_every_write_really_writes_without_the_guard(
    guarded: Callable[..., GuardedRun], layout: Layout
) -> None:
    prepare(layout.target)
    before = {label: snapshot(layout.target / label) for label in WRITES}
    run = guarded("inprocess", {}, body(layout.target), cwd=layout.allowed)
    failed = {label: run.outcomes[label] for label in WRITES if run.status(label) != "ok"}
    assert not failed, run.stderr
    unchanged = {
        label
        for label in WRITES
        if label not in LEAVE_NO_TRACE and snapshot(layout.target / label) == before[label]
    }
    assert not unchanged


@POLICY_MODES
def test_the_message_names_the_operation_and_the_resolved_path(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    run = guarded(
        mode,
        {"fs_readonly": True},
        """
        import os
        attempt("open", lambda: open("new.txt", "w"))
        attempt("os.open", lambda: os.open("sub/../new.txt", os.O_WRONLY | os.O_CREAT))
        attempt("rename", lambda: os.rename("a", "b"))
        """,
        cwd=layout.target,
    )
    new = str(layout.target / "new.txt")
    hint = "(allow a directory with --allow-write DIR or allow_write=[...])"
    assert run.outcomes["open"][2:] == [
        "filesystem",
        new,
        f"filesystem is read-only: open('new.txt', 'w') {hint}",
    ]
    assert run.outcomes["os.open"][2:] == [
        "filesystem",
        new,
        f"filesystem is read-only: os.open('sub/../new.txt', O_WRONLY|O_CREAT) {hint}",
    ]
    assert run.outcomes["rename"][3:] == [
        str(layout.target / "a"),
        f"filesystem is read-only: os.rename('a', 'b') {hint}",
    ]
    assert not os.path.exists(new)


SQLITE_URIS = """
import sqlite3
def connect(name):
    sqlite3.connect(name, uri=True).execute("create table if not exists t (x)")
attempt("allowed", lambda: connect("file:" + ALLOWED + "/a.db"))
attempt("shared_memory", lambda: connect("file::memory:?cache=shared"))
attempt("memory_mode", lambda: connect("file:" + TARGET + "/m.db?mode=memory"))
attempt("rwc", lambda: connect("file:" + TARGET + "/b.db?mode=rwc"))
attempt("localhost", lambda: connect("file://localhost" + TARGET + "/c.db"))
attempt("escaped_dotdot", lambda: connect("file:" + ALLOWED + "/%2E%2E/target/d.db"))
"""


@POLICY_MODES
def test_sqlite_uris_are_decoded_and_checked(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    head = f"ALLOWED = {str(layout.allowed)!r}; TARGET = {str(layout.target)!r}\n"
    run = guarded(mode, policy(layout), head + SQLITE_URIS, cwd=layout.allowed)
    statuses = {k: v[1] for k, v in run.outcomes.items()}
    assert statuses == {
        "allowed": "ok",
        "shared_memory": "ok",
        "memory_mode": "ok",
        "rwc": "blocked",
        "localhost": "blocked",
        "escaped_dotdot": "blocked",
    }, run.stderr
    assert os.listdir(layout.target) == []
    unguarded = guarded("inprocess", {}, head + SQLITE_URIS, cwd=layout.allowed)
    assert {v[1] for v in unguarded.outcomes.values()} == {"ok"}
    assert sorted(os.listdir(layout.target)) == ["b.db", "c.db", "d.db"]


def test_an_uncaught_refusal_ends_the_run_with_one_line(
    guarded: Callable[..., GuardedRun], layout: Layout
) -> None:
    run = guarded(
        "bootstrap",
        {"fs_readonly": True},
        "open('new.txt', 'w')\nprint('not reached')\n",
        cwd=layout.target,
        violation_exit_code=3,
    )
    assert run.returncode == 3
    assert "not reached" not in run.stdout
    assert run.stderr == "hermetic: blocked filesystem: open('new.txt', 'w')\n"
    assert not (layout.target / "new.txt").exists()


def test_trace_reports_each_refusal_on_stderr(
    guarded: Callable[..., GuardedRun], layout: Layout
) -> None:
    run = guarded(
        "bootstrap",
        {"fs_readonly": True, "trace": True},
        "import os\nattempt('write', lambda: os.mkdir('d'))\n",
        cwd=layout.target,
    )
    assert run.status("write") == "blocked"
    target = layout.target / "d"
    assert f"hermetic: blocked filesystem: os.mkdir('d') ({target})\n" in run.stderr
