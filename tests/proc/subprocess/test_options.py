"""The guard's declarations, its ``allow_commands`` entries and how policies with them merge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hermetic_proc
from hermetic import BlockConfig, hermetic_blocker
from hermetic.contract import INTERSECTION, OR
from hermetic.errors import PolicyError
from hermetic.guards import installed
from hermetic.registry import registry
from hermetic_proc import _subprocess_patch
from hermetic_proc._subprocess import normalize_commands
from hermetic_testsupport.runs import modules_imported_by


def test_the_guard_is_registered_with_its_options() -> None:
    guard = registry().guards["subprocess"]
    assert guard is hermetic_proc.subprocess_guard
    assert guard.distribution == "hermetic-proc"
    assert guard.patch_module == "hermetic_proc._subprocess_patch"
    block, allow = guard.options
    assert (block.name, block.type, block.flags, block.aliases, block.enables, block.merge) == (
        "block_subprocess",
        bool,
        ("--no-subprocess",),
        ("no_subprocess",),
        True,
        OR,
    )
    assert (allow.name, allow.type, allow.flags, allow.metavar, allow.enables, allow.merge) == (
        "allow_commands",
        list,
        ("--allow-command",),
        "CMD",
        False,
        INTERSECTION,
    )


def test_importing_the_package_stays_cheap() -> None:
    costly = {"typing", "threading", "subprocess", "hermetic_proc._subprocess_patch"}
    assert modules_imported_by("import hermetic_proc") & costly == set()


def test_the_patch_module_imports_neither_subprocess_nor_threading() -> None:
    # In the bootstrap it runs at the start of every guarded interpreter.
    new = modules_imported_by("import hermetic_proc._subprocess_patch")
    new -= {m for m in new if m.startswith("hermetic")}
    assert new <= {"_posixsubprocess", "errno", "stat", "_stat", "__future__"}


def test_aliases_and_the_blocker() -> None:
    with hermetic_blocker(no_subprocess=True, allow_commands=["git"]):
        assert installed() == {"subprocess": {"block_subprocess": True, "allow_commands": ("git",)}}
    assert installed() == {}


def test_allow_commands_alone_switches_nothing_on() -> None:
    with hermetic_blocker(allow_commands=["git"]):
        assert installed() == {}


# -- entries ------------------------------------------------------------------------------

CANONICAL = [
    ("git", "git"),
    ("python3.11", "python3.11"),
    ("g++", "g++"),
    ("x86_64-linux-gnu-gcc", "x86_64-linux-gnu-gcc"),
    ("/usr/bin/git", "/usr/bin/git"),
    ("/usr/bin/../bin/git", "/usr/bin/git"),
    ("/usr//bin/git", "/usr/bin/git"),
    ("/opt/My Tools/tool", "/opt/My Tools/tool"),  # a path may hold spaces
]


@pytest.mark.parametrize(("entry", "canonical"), CANONICAL)
def test_entries_are_canonicalised_idempotently(entry: str, canonical: str) -> None:
    assert normalize_commands([entry]) == (canonical,)
    assert normalize_commands([canonical]) == (canonical,)


def test_relative_paths_and_home_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert normalize_commands(["./tools/run", "bin/x", "~/bin/y"]) == (
        str(tmp_path / "tools" / "run"),
        str(tmp_path / "bin" / "x"),
        str(tmp_path / "home" / "bin" / "y"),
    )


MALFORMED = [
    ("", "an empty entry; give an executable's name (git) or path (/usr/bin/git)"),
    ("   ", "is only white space"),
    (" git", "has white space around it; write 'git'"),
    ("git\n", "has white space around it; write 'git'"),
    ("git status", "give the executable alone ('git'): its arguments cannot be restricted"),
    ("git\tstatus", "give the executable alone ('git')"),
    ("/usr/bin/git status", "give the executable alone ('/usr/bin/git')"),
    ("git\0", "contains a NUL byte"),
    ("/usr/bin/git\0x", "contains a NUL byte"),
    ("gi\x1bt", "contains a control character"),
    ("git*", "wildcards are not supported; list each executable"),
    ("/usr/bin/*", "wildcards are not supported"),
    ("python[23]", "wildcards are not supported"),
    ("git;rm", "looks like a shell command line; give one executable"),
    ("a|b", "looks like a shell command line"),
    ("$(evil)", "looks like a shell command line"),
    ("..", "is a directory, not an executable"),
    ("/usr/bin/", "names a directory, not an executable"),
    ("/usr/bin", "is a directory, not an executable"),
    ("~", "is a directory, not an executable"),
]


@pytest.mark.parametrize(("entry", "message"), MALFORMED)
def test_malformed_entries_fail_at_policy_creation(entry: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_commands([entry])
    assert message in str(info.value)
    with pytest.raises(PolicyError, match="invalid allow_commands: ") as error:
        hermetic_blocker(block_subprocess=True, allow_commands=[entry])
    assert message in str(error.value)


def test_a_single_string_is_not_taken_for_a_list() -> None:
    with pytest.raises(PolicyError, match=r"allow_commands=\['git'\]"):
        hermetic_blocker(block_subprocess=True, allow_commands="git")


def test_non_strings_are_refused() -> None:
    with pytest.raises(PolicyError, match="must hold only strings"):
        hermetic_blocker(block_subprocess=True, allow_commands=[b"git"])


def test_path_like_entries_are_accepted() -> None:
    cfg = BlockConfig(block_subprocess=True, allow_commands=[Path("/usr/bin/git"), "git"])
    assert cfg.allow_commands == ("/usr/bin/git", "git")


def test_entries_are_deduplicated_after_canonicalisation() -> None:
    cfg = BlockConfig(block_subprocess=True, allow_commands=["/usr/bin/git", "/usr/bin//git"])
    assert cfg.allow_commands == ("/usr/bin/git",)


# -- merging ------------------------------------------------------------------------------


def test_stacked_policies_allow_only_what_both_allow() -> None:
    outer = BlockConfig(block_subprocess=True, allow_commands=["git", "make", "/usr/bin/env"])
    inner = BlockConfig(block_subprocess=True, allow_commands=["make", "git", "sh"])
    assert (outer | inner).guard_options()["subprocess"]["allow_commands"] == ("git", "make")
    # entries are compared as written: a name and a path are different entries
    by_path = BlockConfig(block_subprocess=True, allow_commands=["/usr/bin/git"])
    assert (outer | by_path).guard_options()["subprocess"]["allow_commands"] == ()
    nothing = BlockConfig(block_subprocess=True)
    assert (outer | nothing).guard_options()["subprocess"]["allow_commands"] == ()


def test_a_policy_that_does_not_block_widens_nothing() -> None:
    blocking = BlockConfig(block_subprocess=True)
    widening = BlockConfig(allow_commands=["git"])
    assert (blocking | widening).guard_options()["subprocess"]["allow_commands"] == ()


def test_nested_blockers_install_the_merged_policy() -> None:
    with hermetic_blocker(block_subprocess=True, allow_commands=["git", "make"]):
        with hermetic_blocker(block_subprocess=True, allow_commands=["make"]):
            assert installed()["subprocess"]["allow_commands"] == ("make",)
        assert installed()["subprocess"]["allow_commands"] == ("git", "make")


# -- resolution ---------------------------------------------------------------------------


def test_names_resolve_on_path_to_real_paths(tmp_path: Path) -> None:
    real = tmp_path / "real" / "tool"
    real.parent.mkdir()
    real.write_text("#!/bin/sh\n")
    real.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tool").symlink_to(real)
    (bin_dir / "plain").write_text("not executable")
    env = {"PATH": f"{tmp_path / 'missing'}:{bin_dir}"}
    found, runnable = _subprocess_patch.pick(_subprocess_patch.candidates("tool", env), "/")
    assert (found, runnable) == (str(bin_dir / "tool"), True)
    assert _subprocess_patch.pick(_subprocess_patch.candidates("plain", env), "/") == (
        str(bin_dir / "plain"),
        False,
    )
    assert _subprocess_patch.pick(_subprocess_patch.candidates("nothing", env), "/") == (
        None,
        False,
    )
    old = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]
    try:
        assert _subprocess_patch.resolve_entry("tool") == os.path.realpath(real)
        assert _subprocess_patch.resolve_entry("plain") is None  # not executable
        assert _subprocess_patch.resolve_entry("nothing") is None
    finally:
        os.environ["PATH"] = old
    assert _subprocess_patch.resolve_entry(str(bin_dir / "tool")) == os.path.realpath(real)


QUOTED = [
    (["git", "status"], "git status"),
    (["sh", "-c", "ls | wc -l"], "sh -c 'ls | wc -l'"),
    (["echo", "it's"], "echo 'it'\"'\"'s'"),
    (["echo", ""], "echo ''"),
    (["echo", "a\x00b\nc"], "echo 'a\\x00b\\nc'"),
    ([b"/usr/bin/git", b"log"], "/usr/bin/git log"),
    ([Path("/usr/bin/git"), Path("x y")], "/usr/bin/git 'x y'"),
]


@pytest.mark.parametrize(("argv", "line"), QUOTED)
def test_command_lines_are_shown_as_a_shell_would_need_them(argv: list[object], line: str) -> None:
    program = _subprocess_patch.text(argv[0])
    assert program is not None
    assert _subprocess_patch.command_line(program, argv) == line
