"""Known ways out of the filesystem guard that it stops: symlinks, ``..``, ``dir_fd``.

Each case is proven both ways: without the guard the escape really reads or writes outside,
under the guard it is refused and the disk shows nothing changed, in-process and in the
bootstrap. The last cases show what a second, unpatched copy of the ``posix`` functions
(what a reference taken before the guard is) can and cannot do: the audit layer still
refuses ``os.open``, but ``os.mkfifo`` has no audit event, so that one is not stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
from security.support import Batch, Outcome, Paths


def tree(work: Path) -> Paths:
    """root/ and allowed/ inside, outside/ not; links from both pointing outside."""
    work = Path(os.path.realpath(work))
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


def policy(paths: Paths) -> dict[str, Any]:
    return {"fs_root": str(paths["root"]), "allow_write": [str(paths["allowed"])]}


@pytest.fixture(scope="module")
def escapes(batch: Callable[..., Batch]) -> Batch:
    return batch(ESCAPES, {"root+allow_write": policy}, tree=tree, cwd="allowed")


def outside(outcome: Outcome) -> set[str]:
    return set(os.listdir(outcome.paths["outside"]))


#: What is outside before any case ran.
UNTOUCHED = {"secret.txt", "spare.txt", "movable.txt"}


def nothing_got_out(outcomes: list[Outcome], *names: str) -> None:
    for outcome in outcomes:
        assert not set(names) & outside(outcome), outcome.why()


def got_out(outcome: Outcome, *names: str) -> None:
    assert set(names) <= outside(outcome), (sorted(outside(outcome)), outcome.why())


@pytest.mark.bypass(
    "filesystem",
    "symlink inside the root pointing outside (read)",
    verdict="blocked",
    layer="audit",
)
def test_reading_through_a_symlink(escapes: Batch) -> None:
    labels = ("read_file_symlink", "read_dir_symlink", "list_dir_symlink")
    assert escapes.works_off(*labels).run.stdout.count("got secret") == 2
    for outcome in escapes.blocked("filesystem", *labels):
        assert "got" not in outcome.run.stdout


@pytest.mark.bypass(
    "filesystem",
    "symlink inside allow_write pointing outside (write), made before or during the run",
    verdict="blocked",
    layer="audit",
)
def test_writing_through_a_symlink(escapes: Batch) -> None:
    labels = ("write_file_symlink", "write_dir_symlink", "write_through_a_new_symlink")
    off = escapes.works_off(*labels)
    assert (off.paths["outside"] / "secret.txt").read_text() == "owned"
    got_out(off, "new1.txt", "new2.txt")
    for outcome in escapes.blocked("filesystem", *labels):
        assert (outcome.paths["outside"] / "secret.txt").read_text() == "secret"
    nothing_got_out(escapes.on, "new1.txt", "new2.txt")


@pytest.mark.bypass(
    "filesystem", "'..' out of the root or allow_write", verdict="blocked", layer="audit"
)
def test_dotdot(escapes: Batch) -> None:
    labels = ("read_dotdot", "write_dotdot", "mkdir_dotdot")
    got_out(escapes.works_off(*labels), "new3.txt", "newdir")
    escapes.blocked("filesystem", *labels)
    nothing_got_out(escapes.on, "new3.txt", "newdir")


@pytest.mark.bypass(
    "filesystem",
    "relative path with dir_fd on a directory outside (os.open, os.unlink)",
    verdict="blocked",
    layer="patch+audit",
)
def test_dir_fd_on_an_outside_directory(escapes: Batch) -> None:
    off = escapes.works_off("os_open_dir_fd", "unlink_dir_fd")
    got_out(off, "new4.txt")
    assert "spare.txt" not in outside(off)
    for outcome in escapes.blocked("filesystem", "os_open_dir_fd", "unlink_dir_fd"):
        assert "new4.txt" not in outside(outcome)
        assert "spare.txt" in outside(outcome)


@pytest.mark.bypass(
    "filesystem",
    "hard link or rename of an outside file into allow_write",
    verdict="blocked",
    layer="audit",
)
def test_an_outside_file_linked_or_moved_in(escapes: Batch) -> None:
    labels = ("hard_link_outside_file_in", "move_outside_file_in")
    off = escapes.works_off(*labels)
    assert (off.paths["allowed"] / "hard").exists()
    assert (off.paths["allowed"] / "moved").exists()
    for outcome in escapes.blocked("filesystem", *labels):
        assert not (outcome.paths["allowed"] / "hard").exists()
        assert not (outcome.paths["allowed"] / "moved").exists()
        assert outside(outcome) >= UNTOUCHED


@pytest.mark.bypass(
    "filesystem",
    "unpatched copy of posix (module_from_spec): os.open, absolute or with dir_fd",
    verdict="blocked",
    layer="audit",
)
def test_an_unpatched_copy_of_posix_open(escapes: Batch) -> None:
    labels = ("unpatched_os_open_dir_fd", "unpatched_os_open_absolute")
    got_out(escapes.works_off(*labels), "new5.txt", "new6.txt")
    escapes.blocked("filesystem", *labels)
    nothing_got_out(escapes.on, "new5.txt", "new6.txt")


@pytest.mark.bypass(
    "filesystem",
    "os.mkfifo (no audit event: only the patch sees it)",
    verdict="blocked",
    layer="patch",
)
def test_mkfifo(escapes: Batch) -> None:
    got_out(escapes.works_off("os_mkfifo"), "fifo1")
    escapes.blocked("filesystem", "os_mkfifo")
    nothing_got_out(escapes.on, "fifo1")


@pytest.mark.bypass(
    "filesystem",
    "unpatched copy of posix (module_from_spec): os.mkfifo",
    verdict="residual",
    layer="none",
)
def test_known_gap_an_unpatched_copy_of_posix_mkfifo(escapes: Batch) -> None:
    got_out(escapes.works_off("unpatched_os_mkfifo"), "fifo2")
    for outcome in escapes.escapes("unpatched_os_mkfifo"):
        # Only the fifo made through the unpatched copy of os.mkfifo got out.
        assert outside(outcome) == UNTOUCHED | {"fifo2"}, outcome.why()
