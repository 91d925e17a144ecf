"""The plugin in an environment where some guards, or none, are installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hermetic import registry as registry_module
from hermetic.registry import Registry
from hermetic_testsupport.fakeguards import entry

pytest_plugins = ["pytester"]


@pytest.fixture
def no_guards() -> Iterator[None]:
    saved = registry_module._REGISTRY
    registry_module._REGISTRY = Registry([])
    try:
        yield
    finally:
        registry_module._REGISTRY = saved


@pytest.fixture
def only_beta() -> Iterator[None]:
    saved = registry_module._REGISTRY
    registry_module._REGISTRY = Registry([entry("beta", "beta")])
    try:
        yield
    finally:
        registry_module._REGISTRY = saved


def test_no_guard_installed(pytester: pytest.Pytester, no_guards: None) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_plain():
            pass

        @pytest.mark.hermetic(block_network=True)
        def test_needs_the_network_guard():
            pass

        @pytest.mark.hermetic_off("network")
        def test_off_a_first_party_guard_that_is_not_installed():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=2, errors=1)
    assert "block_network requires hermetic-net: pip install hermetic-net" in result.stdout.str()
    help_text = pytester.runpytest("--help").stdout.str()
    assert "--hermetic-profile" in help_text and "--hermetic-seal" in help_text
    assert "--hermetic-no-network" not in help_text


def test_a_profile_needing_a_missing_guard(pytester: pytest.Pytester, no_guards: None) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest("--hermetic-profile", "net-hermetic")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "profile 'net-hermetic' needs guards that are not installed: hermetic-net" in (
        result.stderr.str()
    )


def test_only_the_installed_guards_have_options(pytester: pytest.Pytester, only_beta: None) -> None:
    # The one installed guard works by ini key; a missing guard's flag does not exist.
    pytester.makeini("[pytest]\nhermetic_no_beta = true\n")
    pytester.makepyfile(
        """
        import colorsys
        import pytest
        from hermetic import PolicyViolation

        def test_beta_is_on():
            with pytest.raises(PolicyViolation):
                colorsys.hsv_to_rgb(0.1, 0, 0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    result = pytester.runpytest("--hermetic-no-network")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --hermetic-no-network" in result.stderr.str()
