"""Check-then-use: a path swapped for a symlink after the guard checked it is NOT stopped.

The guard resolves a path when the call is made and the kernel resolves it again when the
system call runs. Anything that changes a path component in between (another thread or
process racing the call) decides where the call really lands. These tests win that race
deterministically: a second audit hook, added after hermetic's and so called right after
hermetic's check, swaps a directory for a symlink pointing outside. The read and the write
then land outside, which is exactly what the documentation says a user-space guard cannot
prevent. The same access through a symlink that is already in place is refused, and so is
every later access once the swap has happened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

SWAPPER = """
import os, sys
def swap_after_check(when_opening, directory, outside):
    busy = []
    def hook(event, args):
        # Runs after hermetic's own hook: the path has just been checked as it was.
        if event == "open" and args[0] == when_opening and not busy:
            busy.append(1)
            os.rename(directory, directory + ".real")
            os.symlink(outside, directory)
    sys.addaudithook(hook)
"""

READ_RACE = (
    SWAPPER
    + """
inside = ROOT + "/sub/data.txt"
swap_after_check(inside, ROOT + "/sub", OUTSIDE)
attempt("raced_read", lambda: print("raced read got:", open(inside).read()))
attempt("read_after_the_swap", lambda: open(inside).read())
"""
)

WRITE_RACE = (
    SWAPPER
    + """
inside = ALLOWED + "/out/report.txt"
swap_after_check(inside, ALLOWED + "/out", OUTSIDE)
attempt("raced_write", lambda: open(inside, "w").write("written outside"))
attempt("write_after_the_swap", lambda: open(ALLOWED + "/out/second.txt", "w").close())
"""
)


def tree(tmp_path: Path) -> dict[str, Path]:
    work = Path(os.path.realpath(tmp_path)) / "work"
    paths = {n: work / n for n in ("root", "allowed", "outside")}
    (paths["root"] / "sub").mkdir(parents=True)
    (paths["root"] / "sub" / "data.txt").write_text("inside")
    (paths["allowed"] / "out").mkdir(parents=True)
    paths["outside"].mkdir()
    (paths["outside"] / "data.txt").write_text("secret")
    return paths


def head(paths: dict[str, Path]) -> str:
    return "".join(f"{k.upper()} = {str(v)!r}\n" for k, v in paths.items())


@pytest.mark.bypass(
    "filesystem",
    "check-then-use race: a directory swapped for a symlink after the check (read)",
    verdict="residual",
    layer="none",
)
@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_a_read_swapped_after_the_check_lands_outside(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    paths = tree(tmp_path)
    # The root is writable so that the program itself can make the swap.
    policy = {"fs_root": str(paths["root"]), "allow_write": [str(paths["root"])]}
    run = guarded(mode, policy, head(paths) + READ_RACE, cwd=paths["root"])
    assert run.status("raced_read") == "ok", run.stderr
    assert "raced read got: secret" in run.stdout  # NOT stopped: the documented limit
    assert run.status("read_after_the_swap") == "blocked"
    assert (paths["root"] / "sub").is_symlink()


@pytest.mark.bypass(
    "filesystem",
    "check-then-use race: a directory swapped for a symlink after the check (write)",
    verdict="residual",
    layer="none",
)
@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_a_write_swapped_after_the_check_lands_outside(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    paths = tree(tmp_path)
    policy = {"fs_readonly": True, "allow_write": [str(paths["allowed"])]}
    run = guarded(mode, policy, head(paths) + WRITE_RACE, cwd=paths["allowed"])
    assert run.status("raced_write") == "ok", run.stderr
    # NOT stopped: the file was created outside allow_write.
    assert (paths["outside"] / "report.txt").read_text() == "written outside"
    assert run.status("write_after_the_swap") == "blocked"
    assert not (paths["outside"] / "second.txt").exists()


@pytest.mark.bypass(
    "filesystem",
    "a directory swapped for a symlink before the check (read and write)",
    verdict="blocked",
    layer="audit",
)
@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_the_same_accesses_without_a_race_are_stopped(
    guarded: Callable[..., GuardedRun], tmp_path: Path, mode: str
) -> None:
    """The symlink already in place when the call is checked: refused, nothing written."""
    paths = tree(tmp_path)
    (paths["root"] / "sub").rename(paths["root"] / "sub.real")
    (paths["root"] / "sub").symlink_to(paths["outside"])
    (paths["allowed"] / "out").rename(paths["allowed"] / "out.real")
    (paths["allowed"] / "out").symlink_to(paths["outside"])
    policy = {"fs_root": str(paths["root"]), "allow_write": [str(paths["allowed"])]}
    body = head(paths) + (
        'attempt("read", lambda: print("got", open(ROOT + "/sub/data.txt").read()))\n'
        'attempt("write", lambda: open(ALLOWED + "/out/report.txt", "w").close())\n'
    )
    run = guarded(mode, policy, body, cwd=paths["root"])
    assert (run.status("read"), run.status("write")) == ("blocked", "blocked")
    assert sorted(os.listdir(paths["outside"])) == ["data.txt"]
    # without the guard the same program reads and writes outside
    plain = guarded(mode, {}, body, cwd=paths["root"])
    assert (plain.status("read"), plain.status("write")) == ("ok", "ok"), plain.stderr
    assert "got secret" in plain.stdout
    assert sorted(os.listdir(paths["outside"])) == ["data.txt", "report.txt"]
