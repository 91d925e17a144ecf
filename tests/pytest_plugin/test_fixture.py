"""The ``hermetic`` fixture: blockers for fine-grained use inside a test."""

from __future__ import annotations

import pytest

from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]

HEADER = """
import socket
import pytest
from hermetic import HermeticBlocker, PolicyViolation
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


def test_a_blocker_for_a_with_block(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    project(
        pytester,
        counter,
        """
def test_block(hermetic):
    assert hermetic.policy is None
    assert reach()
    blocker = hermetic(block_network=True)
    assert isinstance(blocker, HermeticBlocker)
    with blocker:
        assert not reach()
    assert reach()
    assert [v.guard for v in hermetic.violations] == ["network"]
""",
    )
    result = pytester.runpytest("-p", "no:socket")
    result.assert_outcomes(passed=1)
    assert counter.wait_for(2) == 2
    # The violation was caught by the test itself: the summary still lists it.
    result.stdout.fnmatch_lines(["*= hermetic violations =*", "network: 1 violation in 1 test"])
    assert (
        "  test_a_blocker_for_a_with_block.py::test_block: network disabled: connect to "
        f"127.0.0.1:{counter.port} (use --allow-localhost or allow_localhost=True) "
        "[caught by the code under test]"
    ) in result.outlines


def test_activate_lasts_until_the_test_ends(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    project(
        pytester,
        counter,
        """
@pytest.fixture
def later():
    yield
    assert not reach()  # torn down before the hermetic fixture it was set up after

def test_activate(hermetic, later):
    hermetic.activate(block_network=True)
    assert not reach()

def test_left_entered(hermetic):
    hermetic(block_network=True).__enter__()  # never left by the test
    assert not reach()

def test_next():
    assert installed() == {}
    assert reach()
""",
    )
    pytester.runpytest("-p", "no:socket").assert_outcomes(passed=3)
    assert counter.wait_for(1) == 1


def test_the_fixture_sees_the_suite_and_marker_policy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_suite(hermetic):
            assert hermetic.policy.block_network is True
            assert hermetic.policy.allow_localhost is True

        @pytest.mark.hermetic(block_network=True)
        def test_marker(hermetic):
            assert hermetic.policy.allow_localhost is False

        @pytest.mark.hermetic_off
        def test_off(hermetic):
            assert hermetic.policy is None
        """
    )
    result = pytester.runpytest("-p", "no:socket", "--hermetic-profile=net-hermetic")
    result.assert_outcomes(passed=3)


def test_fixture_blockers_stack_on_the_suite_policy(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    project(
        pytester,
        counter,
        """
def test_nested(hermetic):
    assert reach()
    with hermetic(block_network=True):
        assert not reach()
    assert reach()
    with hermetic(block_network=True, allow_localhost=True, fs_readonly=True):
        assert set(installed()) == {"network", "filesystem"}
        assert reach()
""",
    )
    result = pytester.runpytest("-p", "no:socket", "--hermetic-profile=net-hermetic")
    result.assert_outcomes(passed=1)
    assert counter.wait_for(3) == 3


def test_a_bad_policy_raises_in_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from hermetic.errors import PolicyError

        def test_bad(hermetic):
            with pytest.raises(PolicyError, match="unknown option 'block_netwrk'"):
                hermetic(block_netwrk=True)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
