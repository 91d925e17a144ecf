"""Known ways out of the filesystem guard that it stops: symlinks, ``..``, ``dir_fd``.

Each case is proven both ways: without the guard the escape really reads or writes outside,
under the guard it is refused and the disk shows nothing changed. The last cases show what a
second, unpatched copy of the ``posix`` functions (what a reference taken before the guard
is) can and cannot do: the audit layer still refuses ``os.open``, but ``os.mkfifo`` has no
audit event, so that one is not stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun


def tree(tmp_path: Path) -> dict[str, Path]:
    """root/ and allowed/ inside, outside/ not; links from both pointing outside."""
    work = Path(os.path.realpath(tmp_path)) / "work"
    paths = {n: work / n for n in ("root", "allowed", "outside")}
    for p in paths.values():
        p.mkdir(parents=True)
    for name in ("secret.txt", "spare.txt", "movable.txt"):
        (paths["outside"] / name).write_text("secret")
    (paths["root"] / "dir_link").symlink_to(paths["outside"])
    (paths["root"] / "file_link").symlink_to(paths["outside"] / "secret.txt")
    (paths["allowed"] / "dir_link").symlink_to(paths["outside"])
    (paths["allowed"] / "file_link").symlink_to(paths["outside"] / "secret.txt")
    return paths


ESCAPES = """
import os, importlib.util
R, A, O = ROOT, ALLOWED, OUTSIDE
attempt("read_file_symlink", lambda: print("got", open(R + "/file_link").read()))
attempt("read_dir_symlink", lambda: print("got", open(R + "/dir_link/secret.txt").read()))
attempt("list_dir_symlink", lambda: os.listdir(R + "/dir_link"))
attempt("read_dotdot", lambda: open(R + "/../outside/secret.txt").read())
attempt("write_file_symlink", lambda: open(A + "/file_link", "w").write("owned"))
attempt("write_dir_symlink", lambda: open(A + "/dir_link/new1.txt", "w").close())
def link_made_during_the_run():
    os.symlink(O, A + "/fresh_link")
    open(A + "/fresh_link/new2.txt", "w").close()
attempt("write_through_a_new_symlink", link_made_during_the_run)
attempt("write_dotdot", lambda: open(A + "/../outside/new3.txt", "w").close())
attempt("mkdir_dotdot", lambda: os.mkdir(A + "/../outside/newdir"))
def dir_fd_escape():
    fd = os.open(O, os.O_RDONLY)  # a descriptor on the outside directory
    os.close(os.open("new4.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
attempt("os_open_dir_fd", dir_fd_escape)
attempt("unlink_dir_fd", lambda: os.unlink("spare.txt", dir_fd=os.open(O, os.O_RDONLY)))
attempt("hard_link_outside_file_in", lambda: os.link(O + "/secret.txt", A + "/hard"))
attempt("move_outside_file_in", lambda: os.rename(O + "/movable.txt", A + "/moved"))
# A second copy of the posix functions: what a reference taken before the guard is.
fresh = importlib.util.module_from_spec(importlib.util.find_spec("posix"))
def fresh_dir_fd_escape():
    fd = os.open(O, os.O_RDONLY)
    os.close(fresh.open("new5.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
attempt("unpatched_os_open_dir_fd", fresh_dir_fd_escape)
attempt("unpatched_os_open_absolute", lambda: fresh.open(O + "/new6.txt", os.O_WRONLY | os.O_CREAT))
attempt("os_mkfifo", lambda: os.mkfifo(O + "/fifo1"))
attempt("unpatched_os_mkfifo", lambda: fresh.mkfifo(O + "/fifo2"))
"""

STOPPED = {
    "read_file_symlink",
    "read_dir_symlink",
    "list_dir_symlink",
    "read_dotdot",
    "write_file_symlink",
    "write_dir_symlink",
    "write_through_a_new_symlink",
    "write_dotdot",
    "mkdir_dotdot",
    "os_open_dir_fd",
    "unlink_dir_fd",
    "hard_link_outside_file_in",
    "move_outside_file_in",
    "unpatched_os_open_dir_fd",
    "unpatched_os_open_absolute",
    "os_mkfifo",
}
NOT_STOPPED = {"unpatched_os_mkfifo"}
#: What the cases create outside when they are not stopped.
CREATED = {"new1.txt", "new2.txt", "new3.txt", "newdir", "new4.txt", "new5.txt", "new6.txt"}


def body(paths: dict[str, Path]) -> str:
    head = "".join(f"{k.upper()} = {str(v)!r}\n" for k, v in paths.items())
    return head + ESCAPES


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_symlink_dotdot_and_dir_fd_escapes_are_stopped(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    paths = tree(tmp_path)
    policy = {"fs_root": str(paths["root"]), "allow_write": [str(paths["allowed"])]}
    run = guarded(mode, policy, body(paths), cwd=paths["allowed"])
    statuses = {label: run.status(label) for label in STOPPED | NOT_STOPPED}
    assert {k for k, v in statuses.items() if v == "blocked"} == STOPPED, run.stderr
    assert "got" not in run.stdout
    outside = paths["outside"]
    # Only the fifo made through the unpatched copy of os.mkfifo got out.
    assert sorted(os.listdir(outside)) == ["fifo2", "movable.txt", "secret.txt", "spare.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    assert not (paths["allowed"] / "hard").exists()


def test_without_the_guard_every_escape_reaches_outside(
    guarded: Callable[..., GuardedRun], tmp_path: Path
) -> None:
    paths = tree(tmp_path)
    run = guarded("inprocess", {}, body(paths), cwd=paths["allowed"])
    failed = {k: run.outcomes[k] for k in STOPPED | NOT_STOPPED if run.status(k) != "ok"}
    assert not failed, run.stderr
    assert run.stdout.count("got secret") == 2
    assert CREATED | {"fifo1", "fifo2"} <= set(os.listdir(paths["outside"]))
    assert (paths["allowed"] / "hard").exists()
    assert (paths["allowed"] / "moved").exists()
    assert (paths["outside"] / "secret.txt").read_text() == "owned"
    assert not (paths["outside"] / "spare.txt").exists()
