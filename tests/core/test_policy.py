"""BlockConfig: validation, aliases, reading, and stricter-wins merging per guard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hermetic.errors import GuardNotInstalled, PolicyError
from hermetic.policy import BlockConfig
from hermetic.profiles import (
    PROFILES,
    GuardConfig,
    apply_profile,
    apply_profiles,
    profile,
)
from hermetic.registry import Registry
from hermetic_testsupport.fakeguards import fake_registry


@pytest.fixture(autouse=True)
def fakes() -> Iterator[Registry]:
    with fake_registry() as reg:
        yield reg


def test_keywords_aliases_and_reading() -> None:
    cfg = BlockConfig(no_alpha=True, allow_alpha=["X", "y"])
    assert cfg.block_alpha is True
    assert cfg.no_alpha is True
    assert cfg.allow_alpha == ("x", "y")  # normalised by the option
    assert cfg.alpha_root is None  # unset reads as the default
    assert cfg.trace is False
    assert cfg.values == {"block_alpha": True, "allow_alpha": ("x", "y")}
    assert BlockConfig.from_kwargs(block_alpha=True) == BlockConfig(no_alpha=True)


def test_configs_are_immutable_and_hashable() -> None:
    cfg = BlockConfig(block_alpha=True)
    with pytest.raises(AttributeError, match="immutable"):
        cfg.block_alpha = False
    assert hash(cfg) == hash(BlockConfig(block_alpha=True))
    assert cfg.replace(alpha_strict=True).alpha_strict is True
    assert cfg.alpha_strict is False


def test_unknown_options_and_bad_values_fail_at_creation() -> None:
    with pytest.raises(PolicyError, match="unknown option 'block_gamma'"):
        BlockConfig(block_gamma=True)
    with pytest.raises(GuardNotInstalled, match="block_network requires hermetic-net"):
        BlockConfig(block_network=True)
    with pytest.raises(PolicyError, match="allow_alpha must be a list of strings"):
        BlockConfig(block_alpha=True, allow_alpha="x")
    with pytest.raises(PolicyError, match="alpha_root must be a string or a path"):
        BlockConfig(alpha_root=True)
    with pytest.raises(PolicyError, match="trace must be True or False"):
        BlockConfig(trace="yes")
    with pytest.raises(PolicyError, match="same option"):
        BlockConfig(block_alpha=True, no_alpha=False)
    with pytest.raises(AttributeError):
        _ = BlockConfig().no_such_option


def test_first_party_option_of_a_missing_guard_reads_as_unset() -> None:
    assert BlockConfig().block_network is None


def test_merge_is_stricter_per_option() -> None:
    a = BlockConfig(block_alpha=True, allow_alpha=["a", "b"], alpha_strict=True)
    b = BlockConfig(block_alpha=True, allow_alpha=["b", "c"], alpha_strict=False)
    merged = a | b
    assert merged.allow_alpha == ("b",)
    assert merged.alpha_strict is False  # an allow switch: both must allow
    assert merged == a.merged_with(b)


def test_an_enabling_policy_without_an_allow_list_allows_nothing() -> None:
    a = BlockConfig(block_alpha=True, allow_alpha=["a"])
    b = BlockConfig(block_alpha=True)
    assert (a | b).allow_alpha == ()
    assert (b | a).allow_alpha == ()


def test_options_of_a_policy_that_does_not_switch_the_guard_on_widen_nothing() -> None:
    strict = BlockConfig(block_alpha=True, allow_alpha=["a"])
    unrelated = BlockConfig(block_beta=True, allow_alpha=["a", "z"], alpha_strict=True)
    merged = strict | unrelated
    assert merged.allow_alpha == ("a",)
    assert merged.alpha_strict is False
    assert merged.block_beta is True
    assert (unrelated | strict).allow_alpha == ("a",)


def test_core_options_merge_with_or() -> None:
    merged = BlockConfig(trace=True) | BlockConfig(sealed=True)
    assert merged.trace is True
    assert merged.sealed is True


def test_deeper_root_wins(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    a = BlockConfig(block_alpha=True, alpha_root=str(tmp_path))
    b = BlockConfig(block_alpha=True, alpha_root=str(inner))
    assert (a | b).alpha_root == str(inner)
    assert (b | a).alpha_root == str(inner)


def test_enabled_guards_and_their_full_options() -> None:
    cfg = BlockConfig(block_beta=True, allow_alpha=["q"])
    assert [g.name for g in cfg.enabled_guards()] == ["beta"]
    assert cfg.guard_options() == {"beta": {"block_beta": True}}


def test_profiles_need_their_guards() -> None:
    with pytest.raises(GuardNotInstalled) as info:
        profile("net-hermetic")
    assert str(info.value) == (
        "profile 'net-hermetic' needs guards that are not installed: "
        "hermetic-net (block_network, allow_localhost): pip install hermetic-net"
    )
    with pytest.raises(PolicyError, match=r"unknown profile 'nope'; profiles: block-all, "):
        profile("nope")


def test_apply_profile_merges_stricter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROFILES, "alpha-only", GuardConfig._unchecked(block_alpha=True))
    monkeypatch.setitem(
        PROFILES, "alpha-b", GuardConfig._unchecked(block_alpha=True, allow_alpha=["b"])
    )
    base = GuardConfig(block_beta=True)
    merged = apply_profile(base, "alpha-only")
    assert isinstance(merged, GuardConfig)
    assert merged.block_alpha and merged.block_beta
    both = apply_profiles(GuardConfig(block_alpha=True, allow_alpha=["a", "b"]), ["alpha-b"])
    assert both.allow_alpha == ("b",)


def test_options_given_with_a_profile_refine_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from hermetic import hermetic_blocker

    monkeypatch.setitem(
        PROFILES, "alpha-strict", GuardConfig._unchecked(block_alpha=True, alpha_strict=True)
    )
    # One declaration: an allow-list given next to a profile allows what it names (a
    # stricter-wins merge would intersect it with the profile's empty list: nothing).
    cfg = hermetic_blocker(profile="alpha-strict", allow_alpha=["A"]).config
    assert cfg.block_alpha and cfg.alpha_strict and cfg.allow_alpha == ("a",)
    assert cfg.guard_options()["alpha"]["allow_alpha"] == ("a",)
    # A value the profile sets is replaced by the explicit one...
    assert hermetic_blocker(profile="alpha-strict", alpha_strict=False).config.alpha_strict is False
    # ...but a switch that blocks cannot be switched off by the options beside it.
    assert hermetic_blocker(profile="alpha-strict", block_alpha=False).config.block_alpha is True
    assert hermetic_blocker(profile="alpha-strict", trace=True).config.trace is True
    # Stacking separate policies still intersects: the stricter wins.
    stacked = hermetic_blocker(profile="alpha-strict").config | BlockConfig(
        block_alpha=True, allow_alpha=["a"]
    )
    assert stacked.allow_alpha == ()


def test_guard_config_reads_seed_aliases() -> None:
    cfg = GuardConfig(no_alpha=True)
    assert cfg.no_alpha is True
    assert cfg.block_alpha is True
