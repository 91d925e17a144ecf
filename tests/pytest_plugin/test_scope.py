"""When the policy is active: the test call by default; setup and teardown on request."""

from __future__ import annotations

import pytest

from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]

PROJECT = """
import socket
import pytest
from hermetic import PolicyViolation
from hermetic.guards import installed

PORT = {port}
seen = []

def reach(label):
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
    except PolicyViolation:
        seen.append(label + ": blocked")
    else:
        seen.append(label + ": reached")

reach("collection")

@pytest.fixture(scope="module")
def module_resource():
    reach("module setup")
    yield
    reach("module teardown")
    print("SEEN", seen)

@pytest.fixture
def resource(module_resource):
    reach("setup")
    yield
    reach("teardown")

def test_one(resource):
    reach("call")
"""


def run(pytester: pytest.Pytester, counter: TCPCounter, *args: str) -> list[str]:
    pytester.makepyfile(PROJECT.format(port=counter.port))
    result = pytester.runpytest("-s", "-p", "no:socket", "--hermetic-no-network", *args)
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "SEEN" in line)
    return [part.strip(" '[]") for part in line.split("SEEN", 1)[1].split(",")]


def test_by_default_only_the_call_is_guarded(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    seen = run(pytester, counter)
    assert seen == [
        "collection: reached",
        "module setup: reached",
        "setup: reached",
        "call: blocked",
        "teardown: reached",
        "module teardown: reached",
    ]
    assert counter.wait_for(5) == 5


def test_scope_test_also_guards_setup_and_teardown(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    seen = run(pytester, counter, "--hermetic-scope=test")
    assert seen == [
        "collection: reached",
        "module setup: blocked",
        "setup: blocked",
        "call: blocked",
        "teardown: blocked",
        "module teardown: blocked",
    ]
    assert counter.wait_for(1) == 1


def test_scope_from_the_ini_file(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    pytester.makeini("[pytest]\nhermetic_scope = test\n")
    seen = run(pytester, counter)
    assert seen[2] == "setup: blocked"


def test_nothing_is_installed_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from hermetic.guards import installed

        @pytest.fixture
        def outside():
            assert installed() == {}
            yield
            assert installed() == {}

        def test_one(outside):
            assert set(installed()) == {"network"}

        def test_two(outside):
            assert set(installed()) == {"network"}
        """
    )
    pytester.runpytest("--hermetic-no-network", "-p", "no:socket").assert_outcomes(passed=2)
