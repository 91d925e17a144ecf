"""The environment guard's declaration: options, flags, validation, merging, the patch module."""

from __future__ import annotations

import os
from typing import Any

import pytest

import hermetic_proc
from hermetic import hermetic_blocker
from hermetic.errors import PolicyError, PolicyViolation
from hermetic.policy import BlockConfig
from hermetic.registry import FIRST_PARTY, registry
from hermetic_proc import _environment_patch as patch
from hermetic_proc._environment import environment_guard, merge_allow_env


def test_the_entry_point_resolves_to_the_guard() -> None:
    guard = registry().guards["environment"]
    assert guard is hermetic_proc.environment_guard is environment_guard
    assert guard.distribution == "hermetic-proc"
    assert guard.patch_module == "hermetic_proc._environment_patch"


def test_options_and_flags_match_the_first_party_table() -> None:
    row = next(r for r in FIRST_PARTY if r[1] == "environment")
    names = {n for o in environment_guard.options for n in (o.name, *o.aliases)}
    flags = {f for o in environment_guard.options for f in o.flags}
    assert row[0] == "hermetic-proc"
    assert names == set(row[2]) == {"block_environment", "no_environment", "no_env", "allow_env"}
    assert flags == set(row[3]) == {"--no-environment", "--no-env", "--allow-env"}
    assert environment_guard.option("block_environment").enables
    assert not environment_guard.option("allow_env").enables


@pytest.mark.parametrize("alias", ["block_environment", "no_environment", "no_env"])
def test_every_spelling_switches_the_guard_on(alias: str) -> None:
    assert BlockConfig(**{alias: True}).block_environment is True
    assert [g.name for g in BlockConfig(**{alias: True}).enabled_guards()] == ["environment"]


def test_allow_env_alone_switches_nothing_on() -> None:
    assert list(BlockConfig(allow_env=["HOME"]).enabled_guards()) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "an empty entry; give a variable name (HOME) or a pattern (LC_*)"),
        ("MY VAR", "'MY VAR' contains white space; a variable name has none"),
        (" HOME", "' HOME' contains white space"),
        ("A\0B", "contains a NUL byte"),
        ("AWS_SECRET=x", "'AWS_SECRET=x' looks like an assignment; give the variable's name"),
        ("$HOME", "'$HOME': give the variable's name without the $ (HOME)"),
        ("LC_[AB", "'LC_[AB' has a [ that is never closed"),
    ],
)
def test_malformed_entries_are_refused_at_policy_creation(entry: str, message: str) -> None:
    with pytest.raises(PolicyError, match="invalid allow_env: ") as info:
        BlockConfig(block_environment=True, allow_env=[entry])
    assert message in str(info.value)


def test_a_single_string_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"write allow_env=\['HOME'\]"):
        BlockConfig(block_environment=True, allow_env="HOME")


def test_good_entries_are_kept_as_given() -> None:
    entries = ["HOME", "LC_*", "http_proxy", "A?", "X[AB]", "*", "dotted.name"]
    assert BlockConfig(block_environment=True, allow_env=entries).allow_env == tuple(entries)


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        (["HOME", "PATH"], ["PATH", "TERM"], ["PATH"]),
        (["LC_*", "PATH"], ["LC_ALL", "HOME"], ["LC_ALL"]),
        (["*"], ["HOME", "LC_*"], ["HOME", "LC_*"]),
        (["LC_*"], ["LC_A*"], ["LC_A*"]),
        (["LC_*"], ["LC_?"], ["LC_?"]),
        (["A*"], ["*B"], []),  # they overlap, neither contains the other: stricter wins
        (["?"], ["*"], ["?"]),
        (["X"], [], []),
    ],
)
def test_stacked_allow_lists_keep_what_both_allow(
    a: list[str], b: list[str], both: list[str]
) -> None:
    assert list(merge_allow_env(a, b)) == both
    assert sorted(merge_allow_env(b, a)) == sorted(both)


def test_stacking_blockers_narrows_the_allow_list() -> None:
    os.environ["HT_OPT_A"] = os.environ["HT_OPT_B"] = "x"
    try:
        with hermetic_blocker(block_environment=True, allow_env=["HT_OPT_*"]):
            assert os.environ["HT_OPT_B"] == "x"
            with hermetic_blocker(block_environment=True, allow_env=["HT_OPT_A"]):
                assert os.environ["HT_OPT_A"] == "x"
                with pytest.raises(PolicyViolation, match="HT_OPT_B"):
                    os.environ["HT_OPT_B"]
            assert os.environ["HT_OPT_B"] == "x"
            # a policy that does not switch the guard on widens nothing
            with hermetic_blocker(allow_env=["*"]), pytest.raises(PolicyViolation):
                os.environ["HT_OTHER"]
    finally:
        del os.environ["HT_OPT_A"], os.environ["HT_OPT_B"]


@pytest.mark.parametrize(
    ("pattern", "entry", "covered"),
    [
        ("HOME", "HOME", True),
        ("*", "anything", True),
        ("LC_*", "LC_ALL", True),
        ("LC_*", "LC_[AB]*", True),
        ("LC_?", "LC_AB", False),
        ("L?_ALL", "LC_ALL", True),
        ("[AB]", "A", True),
        ("*B", "A*B", False),  # true, but not recognised: the merge then keeps less
        ("?", "*", False),
    ],
)
def test_covers_is_sound(pattern: str, entry: str, covered: bool) -> None:
    assert patch.covers(pattern, entry) is covered


def test_matching_is_case_sensitive_and_literal_outside_wildcards() -> None:
    match = patch.Matcher(["http_proxy", "LC_*", "A.B", "X[YZ]"])
    assert match("http_proxy") and not match("HTTP_PROXY")
    assert match("LC_ALL") and match("LC_") and not match("lc_all")
    assert match("A.B") and not match("AxB")
    assert match("XY") and not match("XA")
    assert patch.Matcher(["*"]).everything


def test_the_machinery_list_holds_no_obvious_secret() -> None:
    for entry in patch.MACHINERY_VISIBLE:
        assert not any(word in entry for word in ("KEY", "TOKEN", "SECRET", "PASS", "PROXY"))
    assert "PYTHON*" in patch.MACHINERY_VISIBLE  # child Pythons keep hermetic's bootstrap


def test_nothing_is_left_behind() -> None:
    import _posixsubprocess
    import posix
    import subprocess

    from hermetic._runtime import RUNTIME

    environ_type: Any = type(os.environ)
    names = ("__getitem__", "__setitem__", "__delitem__", "__iter__", "__len__", "__repr__")
    before = {n: vars(environ_type)[n] for n in names}
    functions = (os.execv, _posixsubprocess.fork_exec, getattr(subprocess, "_fork_exec", None))
    module: Any = posix  # its environ changes type while the guard is on
    raw = module.environ
    with hermetic_blocker(block_environment=True):
        assert type(module.environ) is environ_type and module.environ._data is raw
        assert vars(environ_type)["__getitem__"] is not before["__getitem__"]
        assert {"os.putenv", "os.unsetenv", "os.system", "exec"} <= set(RUNTIME.subscribed_events())
        with hermetic_blocker(block_environment=True, allow_env=["X"]):  # a second layer
            assert type(module.environ) is environ_type
        assert type(module.environ) is environ_type  # still the first layer's
    assert {n: vars(environ_type)[n] for n in names} == before
    after = (os.execv, _posixsubprocess.fork_exec, getattr(subprocess, "_fork_exec", None))
    assert after == functions
    assert module.environ is raw
    assert not {"os.putenv", "os.unsetenv", "os.system"} & set(RUNTIME.subscribed_events())
