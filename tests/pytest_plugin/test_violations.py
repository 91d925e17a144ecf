"""A violation fails its test with the message; the summary lists every violation per guard."""

from __future__ import annotations

import pytest

from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]

PROJECT = """
import socket
import pytest

PORT = {port}

def connect():
    socket.create_connection(("127.0.0.1", PORT), timeout=5).close()

def test_raises():
    connect()

def test_swallows():
    try:
        connect()
    except Exception:
        pass

def test_writes(tmp_path):
    open(str(tmp_path / "out.txt"), "w").close()

def test_clean():
    pass
"""


def test_a_violation_fails_the_test_with_its_message(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makepyfile(PROJECT.format(port=counter.port))
    result = pytester.runpytest("-p", "no:socket", "--hermetic-no-network", "-rA")
    result.assert_outcomes(passed=3, failed=1)
    message = (
        f"network disabled: connect to 127.0.0.1:{counter.port} "
        "(use --allow-localhost or allow_localhost=True)"
    )
    assert any(
        line.startswith("E ") and line.endswith(f"hermetic.errors.PolicyViolation: {message}")
        for line in result.outlines
    )
    result.stdout.fnmatch_lines(
        ["FAILED test_a_violation_fails_the_test_with_its_message.py::test_raises - *"]
    )
    # The report ends at the refused call, not inside hermetic.
    assert "_runtime.py" not in result.stdout.str()
    assert "hermetic_net" not in result.stdout.str()
    assert counter.wait_for(1) == 0


def test_full_trace_shows_hermetic_frames(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    pytester.makepyfile(PROJECT.format(port=counter.port))
    result = pytester.runpytest("-p", "no:socket", "--hermetic-no-network", "--full-trace")
    result.assert_outcomes(passed=3, failed=1)
    assert "_runtime.py" in result.stdout.str()


def test_the_summary_lists_violations_per_guard(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makepyfile(PROJECT.format(port=counter.port))
    result = pytester.runpytest(
        "-p", "no:socket", "--hermetic-no-network", "--hermetic-fs-readonly"
    )
    result.assert_outcomes(passed=2, failed=2)
    name = "test_the_summary_lists_violations_per_guard.py"
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "hermetic violations" in line)
    summary = lines[start + 1 : start + 7]
    assert summary[0] == "filesystem: 1 violation in 1 test"
    assert summary[1].startswith(f"  {name}::test_writes: filesystem is read-only: open(")
    assert not summary[1].endswith("[caught by the code under test]")
    assert summary[2] == "network: 2 violations in 2 tests"
    assert summary[3].startswith(f"  {name}::test_raises: network disabled: connect to ")
    assert not summary[3].endswith("[caught by the code under test]")
    assert summary[4].startswith(f"  {name}::test_swallows: network disabled: connect to ")
    assert summary[4].endswith("[caught by the code under test]")
    assert counter.wait_for(1) == 0


def test_violations_outside_the_call_name_their_phase(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket
        import pytest

        @pytest.fixture
        def online():
            try:
                socket.getaddrinfo("localhost", 80)
            except Exception:
                pass
            yield

        def test_one(online):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:socket", "--hermetic-no-network", "--hermetic-scope=test")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "network: 1 violation in 1 test",
            "  test_violations_outside_the_call_name_their_phase.py::test_one (setup): network "
            "disabled: resolve localhost (use --allow-localhost or allow_localhost=True) "
            "[[]caught by the code under test]",
        ]
    )


def test_no_violation_no_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest("-p", "no:socket", "--hermetic-no-network")
    result.assert_outcomes(passed=1)
    assert "hermetic violations" not in result.stdout.str()


def test_the_guards_are_installed_once_for_the_whole_run(
    pytester: pytest.Pytester, extra_guards: list[str]
) -> None:
    pytester.makepyfile(
        """
        import colorsys
        import pytest
        from hermetic import PolicyViolation
        import pt_colors_guard._patch as patch

        @pytest.mark.parametrize("n", range(20))
        def test_many(n):
            with pytest.raises(PolicyViolation):
                colorsys.rgb_to_hsv(0.5, 0.5, 0.5)

        def test_last():
            assert len(patch.INSTALLS) == 1
        """
    )
    pytester.runpytest("--hermetic-no-colors").assert_outcomes(passed=21)
