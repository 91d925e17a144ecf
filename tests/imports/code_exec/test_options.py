"""The guard's declarations, its patch module, and its layers in the test process itself."""

from __future__ import annotations

import builtins
import types
from pathlib import Path

import pytest

import hermetic_imports
from hermetic import BlockConfig, hermetic_blocker
from hermetic._activation import ACTIVATION
from hermetic.contract import INTERSECTION, OR
from hermetic.errors import PolicyError, PolicyViolation
from hermetic.guards import installed
from hermetic.registry import FIRST_PARTY, registry
from hermetic_imports import _code_exec_patch as patch
from hermetic_imports import code_exec_guard
from hermetic_testsupport.runs import modules_imported_by

ORIGINALS = (builtins.exec, builtins.eval, builtins.compile)


def test_the_guard_is_registered_with_its_options() -> None:
    guard = registry().guards["code_exec"]
    assert guard is code_exec_guard is hermetic_imports.code_exec_guard
    assert guard.distribution == "hermetic-imports"
    assert guard.patch_module == "hermetic_imports._code_exec_patch"
    block, allow = guard.options
    assert (block.name, block.type, block.flags, block.aliases, block.enables, block.merge) == (
        "block_code_exec",
        bool,
        ("--no-code-exec",),
        ("no_code_exec",),
        True,
        OR,
    )
    assert (allow.name, allow.type, allow.flags, allow.metavar, allow.enables, allow.merge) == (
        "allow_code_exec_from",
        list,
        ("--allow-code-exec-from",),
        "MODULE",
        False,
        INTERSECTION,
    )


def test_the_first_party_row_is_what_the_guard_declares() -> None:
    (row,) = [r for r in FIRST_PARTY if r[1] == "code_exec"]
    assert row[0] == "hermetic-imports"
    assert set(row[2]) == {n for o in code_exec_guard.options for n in (o.name, *o.aliases)}
    assert set(row[3]) == {f for o in code_exec_guard.options for f in o.flags}


def test_the_alias_and_the_allow_list_are_policy_options() -> None:
    assert BlockConfig(no_code_exec=True).guard_options() == {
        "code_exec": {"block_code_exec": True, "allow_code_exec_from": ()}
    }
    config = BlockConfig(
        block_code_exec=True, allow_code_exec_from=[" attr ", "jinja2.env", "attr"]
    )
    assert config.guard_options()["code_exec"]["allow_code_exec_from"] == ("attr", "jinja2.env")
    assert list(BlockConfig(allow_code_exec_from=["attr"]).enabled_guards()) == []


@pytest.mark.parametrize("bad", ["", "attr-s", "a..b", ".attr", "attr.", "1st", "a b"])
def test_a_malformed_module_name_is_refused_at_policy_creation(bad: str) -> None:
    with pytest.raises(PolicyError, match=r"invalid allow_code_exec_from: .* is not a module name"):
        BlockConfig(block_code_exec=True, allow_code_exec_from=[bad])


def test_stacked_allow_lists_keep_only_what_both_trust() -> None:
    a = BlockConfig(block_code_exec=True, allow_code_exec_from=["attr", "jinja2"])
    b = BlockConfig(block_code_exec=True, allow_code_exec_from=["jinja2", "mako"])
    assert (a | b).guard_options()["code_exec"]["allow_code_exec_from"] == ("jinja2",)


def _codes(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found += _codes(const)
    return found


def test_no_code_of_the_patch_module_carries_future_flags() -> None:
    # The frames that call the real builtins must pass on no compiler flags of their own.
    module = compile(Path(patch.__file__).read_text(), patch.__file__, "exec", dont_inherit=True)
    assert patch.FUTURE_FLAGS & 0x1000000  # CO_FUTURE_ANNOTATIONS
    assert [c.co_name for c in _codes(module) if c.co_flags & patch.FUTURE_FLAGS] == []


def test_importing_the_package_and_the_patch_module_stays_cheap() -> None:
    costly = {"typing", "threading", "ast", "importlib.util", "dataclasses", "inspect", "re"}
    assert modules_imported_by("import hermetic_imports") & (costly | {patch.__name__}) == set()
    assert modules_imported_by(f"import {patch.__name__}") & costly == set()


def test_the_layers_come_and_go_in_the_test_process() -> None:
    with hermetic_blocker(block_code_exec=True, allow_code_exec_from=["a", "b"]):
        assert (builtins.exec, builtins.eval, builtins.compile) != ORIGINALS
        # a new layer replaces the old one
        with hermetic_blocker(block_code_exec=True, allow_code_exec_from=["a"]):
            assert installed()["code_exec"]["allow_code_exec_from"] == ("a",)
            with pytest.raises(PolicyViolation) as caught:
                eval("1")
            assert (caught.value.guard, caught.value.target) == ("code_exec", "eval")
            assert types.SimpleNamespace(x=1).x == 1
        with pytest.raises(PolicyViolation):
            exec("x = 1", {})
    assert (builtins.exec, builtins.eval, builtins.compile) == ORIGINALS
    assert eval("1 + 1") == 2


def test_the_import_system_gets_the_real_builtins_while_a_layer_is_installed() -> None:
    import importlib._bootstrap
    import importlib._bootstrap_external
    import zipimport

    lent = {
        importlib._bootstrap_external: ("exec", "compile"),
        importlib._bootstrap: ("exec",),
        zipimport: ("exec", "compile"),
    }

    def names() -> dict[str, tuple[object, ...]]:
        return {m.__name__: tuple(vars(m).get(n) for n in ns) for m, ns in lent.items()}

    before = names()
    assert all(v is None for values in before.values() for v in values)
    with hermetic_blocker(block_code_exec=True, allow_code_exec_from=["x", "y"]):
        real = {"exec": ORIGINALS[0], "compile": ORIGINALS[2]}
        expected = {m.__name__: tuple(real[n] for n in ns) for m, ns in lent.items()}
        assert names() == expected
        with hermetic_blocker(block_code_exec=True, allow_code_exec_from=["x"]):
            assert installed()["code_exec"]["allow_code_exec_from"] == ("x",)
            assert names() == expected  # the old layer went, the new one keeps them
        assert names() == expected
    assert names() == before


def _locals_seen_by_eval() -> object:
    here = "this function's"  # noqa: F841 - read by the evaluated string
    return eval("here + ' locals'")


def test_a_kept_layer_is_removed_not_parked() -> None:
    # A parked patch would run exec from the runtime's frame: wrong globals and flags.
    ACTIVATION.keep_installed(True)
    try:
        with hermetic_blocker(block_code_exec=True):
            pass
        assert (builtins.exec, builtins.eval, builtins.compile) == ORIGINALS
        assert _locals_seen_by_eval() == "this function's locals"
        code = compile("def f(x: int): pass", "f", "exec")
        assert code.co_flags & 0x1000000  # this module's `from __future__ import annotations`
    finally:
        ACTIVATION.keep_installed(False)
