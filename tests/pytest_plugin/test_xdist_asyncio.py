"""pytest-xdist workers apply the policy and report violations; pytest-asyncio tests too."""

from __future__ import annotations

import pytest

from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]

XDIST_PROJECT = """
import os
import socket
import pytest
from hermetic import PolicyViolation
from hermetic._runtime import RUNTIME

PORT = {port}

def connect():
    socket.create_connection(("127.0.0.1", PORT), timeout=5).close()

@pytest.mark.parametrize("n", range(6))
def test_blocked(n):
    assert os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw")
    with pytest.raises(PolicyViolation):
        connect()

@pytest.mark.parametrize("n", range(2))
@pytest.mark.hermetic_off
def test_off(n):
    connect()

def test_raises():
    connect()

def test_worker_seal_state():
    print("SEALED", RUNTIME.sealed)
"""


def test_two_workers_apply_the_policy_and_the_controller_sums_up(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makepyfile(XDIST_PROJECT.format(port=counter.port))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:socket", "--hermetic-no-network")
    result.assert_outcomes(passed=9, failed=1)
    out = result.stdout.str()
    assert "2 workers [10 items]" in out
    result.stdout.fnmatch_lines(["network: 7 violations in 7 tests"])
    caught = [line for line in result.outlines if line.endswith("[caught by the code under test]")]
    assert len(caught) == 6
    assert counter.wait_for(2) == 2  # only the two opted-out tests got through


def test_two_workers_with_markers_only(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    pytester.makepyfile(
        f"""
        import socket
        import pytest

        @pytest.mark.hermetic(block_network=True)
        @pytest.mark.parametrize("n", range(4))
        def test_marked(n):
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()

        @pytest.mark.parametrize("n", range(4))
        def test_plain(n):
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:socket")
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(["network: 4 violations in 4 tests"])
    assert "hermetic: " not in result.stdout.str()  # no suite policy, no header line
    assert counter.wait_for(4) == 4


def test_two_sealed_workers(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    pytester.makepyfile(XDIST_PROJECT.format(port=counter.port))
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:socket", "--hermetic-no-network", "--hermetic-seal", "-s"
    )
    # Opting out is refused under a sealed policy.
    result.assert_outcomes(passed=7, failed=1, errors=2)
    result.stdout.fnmatch_lines(
        ["hermetic: block_network=True (sealed: *); sealed in each worker, not in the controller"]
    )
    assert counter.wait_for(1) == 0


ASYNC_PROJECT = """
import asyncio
import pytest
import pytest_asyncio
from hermetic import PolicyViolation

PORT = {port}

async def reach():
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.close()
    await writer.wait_closed()

@pytest_asyncio.fixture
async def connected_in_setup():
    await reach()  # fixtures run outside the policy by default
    yield

@pytest.mark.asyncio
async def test_blocked_in_an_async_test(connected_in_setup):
    with pytest.raises(PolicyViolation):
        await reach()

@pytest.mark.asyncio
@pytest.mark.hermetic_off("network")
@pytest.mark.hermetic(block_network=True, allow_localhost=True)
async def test_loopback_allowed_by_marker():
    await reach()
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_raises_in_an_async_test():
    await reach()
"""


@pytest.mark.parametrize("scope", ["call", "test"])
def test_async_tests_run_under_the_policy(
    pytester: pytest.Pytester, counter: TCPCounter, scope: str
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(ASYNC_PROJECT.format(port=counter.port))
    result = pytester.runpytest(
        "-p", "no:socket", "--hermetic-no-network", f"--hermetic-scope={scope}"
    )
    if scope == "call":
        result.assert_outcomes(passed=2, failed=1)
        assert counter.wait_for(2) == 2  # the fixture's and the allowed test's
    else:
        # The event loop itself starts under the policy (its socketpair is allowed); the
        # fixture's connection is refused now, so its test errors.
        result.assert_outcomes(passed=1, failed=1, errors=1)
        assert counter.wait_for(1) == 1
    result.stdout.fnmatch_lines(["*PolicyViolation: network disabled: connect to 127.0.0.1:*"])
