"""A sealed suite policy: active for the whole session from configuration on, never lifted.

Sealing is irreversible for the process, so every run here is a subprocess.
"""

from __future__ import annotations

import pytest

from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]

PROJECT = """
import socket
import pytest
from hermetic import PolicyViolation
from hermetic._runtime import RUNTIME
from hermetic.errors import HermeticError

PORT = {port}

def reach():
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
    except PolicyViolation:
        return False
    return True

AT_COLLECTION = reach()

@pytest.fixture
def resource():
    assert not reach()
    yield
    assert not reach()

def test_sealed_everywhere(resource):
    assert RUNTIME.sealed
    assert not AT_COLLECTION
    assert not reach()

@pytest.mark.hermetic(block_network=True)
def test_a_marker_the_suite_already_implies():
    assert not reach()

@pytest.mark.hermetic(fs_readonly=True)
def test_a_stricter_marker_is_refused():
    pass

@pytest.mark.hermetic_off
def test_opting_out_is_refused():
    reach()

@pytest.mark.hermetic_off("network")
def test_opting_out_of_one_guard_is_refused():
    reach()

def test_the_fixture_cannot_tighten_a_sealed_process(hermetic):
    with hermetic(block_network=True):
        pass
    with pytest.raises(HermeticError, match="the test process is sealed"):
        hermetic(fs_readonly=True)
"""


def test_a_sealed_suite(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    pytester.makepyfile(PROJECT.format(port=counter.port))
    result = pytester.runpytest_subprocess(
        "-p", "no:socket", "--hermetic-no-network", "--hermetic-seal", "-rE"
    )
    result.assert_outcomes(passed=3, errors=3)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        ["hermetic: block_network=True (sealed: active for the whole session)"]
    )
    # Counted in the error reports themselves: the -rE summary repeats them, truncated or
    # not depending on the terminal width.
    refusals = [
        line
        for line in out.splitlines()
        if line.startswith("hermetic: @pytest.mark.hermetic_off")
        and "refused: the suite policy is sealed (--hermetic-seal)" in line
    ]
    assert len(refusals) == 2
    assert "a sealed process cannot change its policy for one test" in out
    # The violation made while the test module was imported is listed too.
    result.stdout.fnmatch_lines(
        [
            "network: 5 violations in 2 tests and during collection",
            "  (collection): network disabled: connect to 127.0.0.1:*",
        ]
    )
    assert counter.wait_for(1) == 0


def test_a_sealed_suite_from_the_ini_file(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    pytester.makeini("[pytest]\nhermetic_profile = net-hermetic\nhermetic_seal = true\n")
    pytester.makepyfile(
        f"""
        import socket
        import pytest
        from hermetic import PolicyViolation
        from hermetic._runtime import RUNTIME

        def test_sealed():
            assert RUNTIME.sealed
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()
            with pytest.raises(PolicyViolation):
                socket.getaddrinfo("example.com", 443)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:socket")
    result.assert_outcomes(passed=1)
    assert counter.wait_for(1) == 1


def test_hermetic_off_on_the_command_line_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhermetic_no_network = true\nhermetic_seal = true\n")
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--hermetic-off")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--hermetic-off is refused: the suite policy is sealed" in result.stderr.str()
