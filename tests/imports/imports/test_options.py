"""The guard's declarations, how deny_imports entries are checked, and how policies merge."""

from __future__ import annotations

import pytest

import hermetic_imports
from hermetic import BlockConfig
from hermetic.contract import OR, UNION
from hermetic.errors import PolicyError
from hermetic.registry import registry
from hermetic_imports._imports import normalize_modules


def test_the_guard_is_registered_with_its_options() -> None:
    guard = registry().guards["imports"]
    assert guard is hermetic_imports.imports_guard
    assert guard.distribution == "hermetic-imports"
    assert guard.patch_module == "hermetic_imports._imports_patch"
    deny, native = guard.options
    assert (deny.name, deny.type, deny.flags, deny.metavar, deny.enables, deny.merge) == (
        "deny_imports",
        list,
        ("--deny-import",),
        "MODULE",
        True,
        UNION,
    )
    assert (native.name, native.type, native.flags, native.enables, native.merge) == (
        "block_native",
        bool,
        ("--block-native",),
        True,
        OR,
    )


def test_either_option_switches_the_guard_on() -> None:
    assert BlockConfig(deny_imports=["requests"]).guard_options() == {
        "imports": {"deny_imports": ("requests",), "block_native": False}
    }
    assert BlockConfig(block_native=True).guard_options() == {
        "imports": {"deny_imports": (), "block_native": True}
    }
    assert BlockConfig(deny_imports=[]).guard_options() == {}


def test_stacked_policies_deny_everything_either_denies() -> None:
    merged = BlockConfig(deny_imports=["a", "b.c"]) | BlockConfig(
        deny_imports=["b.c", "d"], block_native=True
    )
    assert merged.guard_options()["imports"] == {
        "deny_imports": ("a", "b.c", "d"),
        "block_native": True,
    }


VALID = ["requests", "requests.adapters", "_decimal", "a.b.c", "café", "__main__", "x1.y_2"]


@pytest.mark.parametrize("name", VALID)
def test_module_names_are_kept_as_given(name: str) -> None:
    assert normalize_modules([name]) == (name,)
    assert BlockConfig(deny_imports=[name, name]).deny_imports == (name,)


MALFORMED = [
    ("", "an empty module name"),
    (" requests", "' requests' contains white space"),
    ("requests ", "'requests ' contains white space"),
    ("a b", "'a b' contains white space"),
    (".requests", "'.requests' is a relative name; give the absolute module name"),
    ("requests.", "'requests.' has an empty part between dots"),
    ("a..b", "'a..b' has an empty part between dots"),
    (
        "requests.*",
        "'requests.*': wildcards are not needed; a module also denies its submodules"
        " (write 'requests')",
    ),
    ("*", "'*': wildcards are not needed; a module also denies its submodules"),
    ("pkg/mod.py", "'pkg/mod.py' is a path; give the module name (package.module)"),
    ("mod.py", "'mod.py' is a path; give the module name (package.module)"),
    (
        "my-package",
        "'my-package' is not a module name: 'my-package' is not an identifier"
        " (a distribution name? its import name is usually 'my_package')",
    ),
    ("1abc", "'1abc' is not a module name: '1abc' is not an identifier"),
    ("a.2b", "'a.2b' is not a module name: '2b' is not an identifier"),
    ("ﬁle", "'ﬁle' is not in NFKC normal form; write 'file'"),
]


@pytest.mark.parametrize(("name", "problem"), MALFORMED)
def test_malformed_module_names_fail_at_policy_creation(name: str, problem: str) -> None:
    with pytest.raises(PolicyError) as info:
        BlockConfig(deny_imports=[name])
    assert str(info.value) == f"invalid deny_imports: {problem}"


def test_a_single_string_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"write deny_imports=\['requests'\]"):
        BlockConfig(deny_imports="requests")


def test_block_native_must_be_a_bool() -> None:
    with pytest.raises(PolicyError, match="block_native must be True or False"):
        BlockConfig(block_native="yes")
