"""``@pytest.mark.hermetic`` and ``@pytest.mark.hermetic_off`` on tests, classes and modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hermetic import registry as registry_module
from hermetic.registry import Registry, scan
from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]

HEADER = """
import socket
import pytest
from hermetic import PolicyViolation
from hermetic.guards import installed

PORT = {port}

def reach():
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
    except PolicyViolation:
        return False
    return True
"""


def project(pytester: pytest.Pytester, counter: TCPCounter, body: str) -> None:
    pytester.makepyfile(HEADER.format(port=counter.port) + body)


def test_a_marker_on_a_test_class_and_module(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    project(
        pytester,
        counter,
        """
pytestmark = pytest.mark.hermetic(block_network=True, allow_localhost=True)

def test_module_marker_applies():
    assert installed()["network"]["allow_localhost"] is True
    assert reach()

@pytest.mark.hermetic(block_network=True)
def test_a_test_marker_tightens_the_module_one():
    assert installed()["network"]["allow_localhost"] is False
    assert not reach()

@pytest.mark.hermetic(block_network=True)
class TestClass:
    def test_class_marker_tightens_too(self):
        assert not reach()

    @pytest.mark.hermetic(block_network=True, allow_localhost=True)
    def test_a_looser_marker_cannot_loosen(self):
        assert not reach()
""",
    )
    result = pytester.runpytest("-p", "no:socket", "--strict-markers")
    result.assert_outcomes(passed=4)
    assert counter.wait_for(1) == 1  # only the first test got through


def test_markers_merge_stricter_wins_with_the_suite_policy(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    project(
        pytester,
        counter,
        """
def test_suite_policy():
    assert reach()

@pytest.mark.hermetic(block_network=True)
def test_stricter_marker():
    assert not reach()

@pytest.mark.hermetic(allow_localhost=True, allow_domains=["example.org"])
def test_an_allow_list_alone_widens_nothing():
    options = installed()["network"]
    assert options["allow_domains"] == ("example.com",)
    assert reach()

@pytest.mark.hermetic(block_network=True, allow_localhost=True, allow_domains=["example.org"])
def test_allow_lists_intersect():
    assert installed()["network"]["allow_domains"] == ()
""",
    )
    result = pytester.runpytest(
        "-p",
        "no:socket",
        "--hermetic-no-network",
        "--hermetic-allow-localhost",
        "--hermetic-allow-domain=example.com",
    )
    result.assert_outcomes(passed=4)
    assert counter.wait_for(2) == 2


def test_markers_take_profiles_by_name(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    project(
        pytester,
        counter,
        """
@pytest.mark.hermetic("net-hermetic")
def test_positional_profile():
    assert reach()
    with pytest.raises(PolicyViolation):
        socket.getaddrinfo("example.com", 443)

@pytest.mark.hermetic(profile="net-hermetic", allow_localhost=False)
def test_keyword_profile_and_options():
    assert not reach()  # the options given with a profile refine it

@pytest.mark.hermetic(profile="net-hermetic", block_network=True)
def test_an_option_the_profile_implies():
    assert reach()
""",
    )
    pytester.runpytest("-p", "no:socket").assert_outcomes(passed=3)
    assert counter.wait_for(2) == 2


def test_hermetic_off_opts_a_test_out_of_the_suite_policy(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    project(
        pytester,
        counter,
        """
def test_suite_policy():
    assert not reach()

@pytest.mark.hermetic_off
def test_off():
    assert installed() == {}
    assert reach()

@pytest.mark.hermetic_off
class TestOffClass:
    def test_off_too(self):
        assert reach()

    @pytest.mark.hermetic(block_network=True)
    def test_a_marker_still_applies_without_the_suite_policy(self):
        assert not reach()
""",
    )
    result = pytester.runpytest("-p", "no:socket", "--hermetic-no-network")
    result.assert_outcomes(passed=4)
    assert counter.wait_for(2) == 2


def test_hermetic_off_by_guard_name_keeps_the_other_guards(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    project(
        pytester,
        counter,
        """
@pytest.mark.hermetic_off("network")
def test_network_off_filesystem_on(tmp_path):
    assert set(installed()) == {"filesystem"}
    assert reach()
    with pytest.raises(PolicyViolation):
        open(str(tmp_path / "x"), "w")
    assert not (tmp_path / "x").exists()

@pytest.mark.hermetic_off("network")
@pytest.mark.hermetic(block_network=True, allow_domains=["127.0.0.1"])
def test_like_pytest_socket_allow_hosts():
    assert reach()
    with pytest.raises(PolicyViolation):
        socket.create_connection(("127.0.0.2", PORT), timeout=5)

@pytest.mark.hermetic_off("no-such-guard")
def test_unknown_guard():
    pass
""",
    )
    result = pytester.runpytest(
        "-p", "no:socket", "--hermetic-no-network", "--hermetic-fs-readonly"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*hermetic: @pytest.mark.hermetic_off('no-such-guard'): 'no-such-guard' is not a "
            "guard; guards: *network*"
        ]
    )
    assert counter.wait_for(2) == 2


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("@pytest.mark.hermetic", "the marker needs a policy"),
        ("@pytest.mark.hermetic(block_netwrk=True)", "unknown option 'block_netwrk'"),
        ("@pytest.mark.hermetic('nope')", "unknown profile 'nope'"),
        ("@pytest.mark.hermetic(block_network='yes')", "block_network must be True or False"),
        ("@pytest.mark.hermetic(block_network=True, sealed=True)", "sealed=True belongs to"),
        ("@pytest.mark.hermetic(3)", "profile names are strings, not 3"),
    ],
)
def test_a_bad_marker_is_an_error_of_that_test_only(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        {marker}
        def test_bad():
            pass

        def test_fine():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    assert message in result.stdout.str()


@pytest.fixture
def without_proc() -> Iterator[None]:
    """This environment's guards, as if hermetic-proc were not installed."""
    saved = registry_module._REGISTRY
    registry_module._REGISTRY = Registry([e for e in scan() if e.distribution != "hermetic-proc"])
    try:
        yield
    finally:
        registry_module._REGISTRY = saved


def test_a_marker_needing_a_guard_that_is_not_installed(
    pytester: pytest.Pytester, without_proc: None
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hermetic(block_subprocess=True)
        def test_needs_proc():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert "block_subprocess requires hermetic-proc: pip install hermetic-proc" in (
        result.stdout.str()
    )


def test_a_parametrized_marker(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    project(
        pytester,
        counter,
        """
@pytest.mark.parametrize("allowed", [
    pytest.param(True, marks=pytest.mark.hermetic(block_network=True, allow_localhost=True)),
    pytest.param(False, marks=pytest.mark.hermetic(block_network=True)),
])
def test_param(allowed):
    assert reach() is allowed
""",
    )
    pytester.runpytest("-p", "no:socket").assert_outcomes(passed=2)
    assert counter.wait_for(1) == 1


def test_markers_added_by_a_conftest_hook_count(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if "offline" in item.name:
                    item.add_marker(pytest.mark.hermetic(block_network=True))
        """
    )
    project(
        pytester,
        counter,
        """
def test_offline():
    assert not reach()

def test_online():
    assert reach()
""",
    )
    pytester.runpytest("-p", "no:socket").assert_outcomes(passed=2)
    assert counter.wait_for(1) == 1
