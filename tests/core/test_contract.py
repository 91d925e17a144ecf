"""The guard contract: option declarations, value checks, merge rules, guard validation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hermetic.contract import (
    AND,
    DEEPER,
    INTERSECTION,
    OR,
    SAME,
    UNION,
    Guard,
    Option,
    define_guard,
    patch_module_problems,
)
from hermetic.errors import PolicyError
from hermetic_testsupport import fakeguards


def test_defaults_by_type() -> None:
    assert Option("a", bool).default is False
    assert Option("b", str).default is None
    assert Option("c", list).default == ()
    assert Option("a", bool).merge == OR
    assert Option("b", str).merge == SAME
    assert Option("c", list).merge == UNION


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x", "type": int}, "type must be bool, str or list"),
        ({"name": "not valid", "type": bool}, "not an identifier"),
        ({"name": "x", "type": bool, "flags": ["-x"]}, "must look like --some-flag"),
        ({"name": "x", "type": bool, "merge": "stricter"}, "unknown merge rule"),
    ],
)
def test_bad_declarations(kwargs: dict[str, Any], message: str) -> None:
    name = kwargs.pop("name")
    kind = kwargs.pop("type")
    with pytest.raises((TypeError, ValueError), match=message):
        Option(name, kind, **kwargs)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (bool, "yes", "must be True or False"),
        (bool, 1, "must be True or False"),
        (str, True, "must be a string or a path"),
        (list, "example.com", "not the string 'example.com'"),
        (list, 5, "must be a list of strings"),
        (list, ["a", 3], "must hold only strings"),
    ],
)
def test_wrong_value_types_are_refused(kind: type, value: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Option("opt", kind).coerce(value)


def test_coerce_accepts_paths_and_dedupes_lists(tmp_path: Path) -> None:
    assert Option("p", str).coerce(tmp_path) == os.fspath(tmp_path)
    assert Option("l", list).coerce(["b", "a", "b", tmp_path]) == ("b", "a", os.fspath(tmp_path))
    assert Option("l", list).coerce(x for x in ["a"]) == ("a",)
    assert Option("p", str).coerce(None) is None


def test_normalize_errors_become_policy_errors() -> None:
    def strict(value: tuple[str, ...]) -> tuple[str, ...]:
        if "bad" in value:
            raise ValueError("'bad' is malformed")
        return value

    option = Option("allow", list, normalize=strict)
    assert option.coerce(["ok"]) == ("ok",)
    with pytest.raises(PolicyError, match="invalid allow: 'bad' is malformed"):
        option.coerce(["bad"])


def test_normalize_must_return_plain_values() -> None:
    option = Option("allow", list, normalize=lambda v: {"x": 1})
    with pytest.raises(TypeError, match="normalize returned"):
        option.coerce(["a"])


@pytest.mark.parametrize(
    ("rule", "a", "b", "expected"),
    [
        (OR, False, True, True),
        (OR, False, False, False),
        (AND, True, False, False),
        (AND, True, True, True),
        (UNION, ("a", "b"), ("b", "c"), ("a", "b", "c")),
        (INTERSECTION, ("a", "b"), ("b", "c"), ("b",)),
        (INTERSECTION, ("a",), (), ()),
        (SAME, "x", "x", "x"),
        (SAME, None, "x", "x"),
        (SAME, "x", None, "x"),
    ],
)
def test_merge_rules(rule: str, a: Any, b: Any, expected: Any) -> None:
    kind = {OR: bool, AND: bool, UNION: list, INTERSECTION: list, SAME: str}[rule]
    assert Option("o", kind, merge=rule).combine(a, b) == expected


def test_same_rule_refuses_disagreement() -> None:
    with pytest.raises(PolicyError, match="cannot stack"):
        Option("o", str).combine("x", "y")


def test_deeper_rule(tmp_path: Path) -> None:
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    other = tmp_path / "c"
    other.mkdir()
    option = Option("root", str, merge=DEEPER)
    assert option.combine(str(tmp_path), str(inner)) == str(inner)
    assert option.combine(str(inner), str(tmp_path)) == str(inner)
    assert option.combine(None, str(inner)) == str(inner)
    with pytest.raises(PolicyError, match="neither contains the other"):
        option.combine(str(inner), str(other))


def test_callable_merge() -> None:
    option = Option("n", str, merge=lambda a, b: min(a, b))
    assert option.combine("b", "a") == "a"


def test_guard_validation() -> None:
    with pytest.raises(ValueError, match="no option has enables=True"):
        define_guard("g", summary="s", patch_module="m", options=[Option("a", bool)])
    with pytest.raises(ValueError, match="more than once"):
        define_guard(
            "g",
            summary="s",
            patch_module="m",
            options=[Option("a", bool, enables=True), Option("b", bool, aliases=["a"])],
        )
    with pytest.raises(ValueError, match="value_into"):
        define_guard(
            "g",
            summary="s",
            patch_module="m",
            options=[Option("a", bool, enables=True, value_into="missing")],
        )


def test_guard_options_and_enabling() -> None:
    guard = fakeguards.alpha
    assert guard.enabled({"block_alpha": True})
    assert not guard.enabled({"alpha_strict": True})
    assert guard.full_options({"block_alpha": True}) == {
        "block_alpha": True,
        "alpha_strict": False,
        "allow_alpha": (),
        "alpha_root": None,
    }
    assert guard.option("allow_alpha").merge == INTERSECTION
    with pytest.raises(KeyError):
        guard.option("nope")


def test_bootstrap_code_is_the_patch_module_file() -> None:
    from hermetic_testsupport import fakeguard_patch

    with open(fakeguard_patch.__file__, encoding="utf-8") as f:
        assert f.read() == fakeguards.alpha.BOOTSTRAP_CODE


def test_bootstrap_code_of_a_missing_module_raises() -> None:
    guard = Guard(
        "g",
        summary="s",
        patch_module="hermetic_testsupport.no_such_module",
        options=[Option("a", bool, enables=True)],
    )
    with pytest.raises(ImportError):
        _ = guard.BOOTSTRAP_CODE


def test_patch_module_problems() -> None:
    assert patch_module_problems(fakeguards.alpha.BOOTSTRAP_CODE) == []
    assert patch_module_problems("import os\n") == ["no top-level install(options, runtime)"]
    problems = patch_module_problems(
        "from hermetic.errors import PolicyViolation\nfrom . import x\nimport mypkg.sub\n"
        "def install(options, runtime): pass\n",
        own_package="mypkg",
    )
    assert problems == [
        "line 1: imports hermetic.errors",
        "line 2: relative import",
        "line 3: imports mypkg.sub",
    ]


def test_demo_guard_patch_module_is_fit() -> None:
    root = Path(__file__).parents[1] / "fixtures" / "thirdparty-guard" / "src"
    source = (root / "hermetic_demo_guard" / "_patch.py").read_text()
    assert patch_module_problems(source, own_package="hermetic_demo_guard") == []
