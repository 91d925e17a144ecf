"""Command-line options and ini keys, generated from whatever guards are installed."""

from __future__ import annotations

import pytest

from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]

CHECK_COLORS = """
import colorsys
import pytest
from hermetic import PolicyViolation
from hermetic.guards import installed

def converts(value):
    try:
        colorsys.rgb_to_hsv(value, value, value)
    except PolicyViolation:
        return False
    return True
"""


def test_every_kind_of_option_becomes_a_flag_and_an_ini_key(
    pytester: pytest.Pytester, extra_guards: list[str]
) -> None:
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    for text in (
        "--hermetic-no-colors",
        "--hermetic-allow-color=VALUE",
        "--hermetic-colors-lenient",
        "--hermetic-colors-label=COLORS_LABEL",  # no flag declared: derived from the name
        "--hermetic-no-webbrowser",  # the third-party demo guard
        "hermetic_no_colors (bool)",
        "hermetic_allow_color (args)",
        "hermetic_colors_label (string)",
        "[colors] Refuse colorsys.rgb_to_hsv.",
    ):
        assert text in out, text
    # A guard flag that would shadow one of the plugin's own is left out, not fatal.
    assert "Clashes with --hermetic-scope" not in out


def test_command_line_values_reach_the_guard(
    pytester: pytest.Pytester, extra_guards: list[str]
) -> None:
    pytester.makepyfile(
        CHECK_COLORS
        + """
def test_options():
    assert installed()["colors"] == {
        "block_colors": True,
        "allow_colors": ("0.25", "0.75"),
        "colors_lenient": True,
        "colors_label": "demo",
        "colors_scope": False,
    }
    assert converts(0.25) and converts(0.75) and converts(-1.0)
    assert not converts(0.5)
"""
    )
    result = pytester.runpytest(
        "--hermetic-no-colors",
        "--hermetic-allow-color",
        "0.25",
        "--hermetic-allow-color=0.75",
        "--hermetic-colors-lenient",
        "--hermetic-colors-label=demo",
    )
    result.assert_outcomes(passed=1)


def test_ini_keys_configure_the_suite(pytester: pytest.Pytester, extra_guards: list[str]) -> None:
    pytester.makeini(
        """
        [pytest]
        hermetic_no_colors = true
        hermetic_allow_color = 0.25 0.75
        hermetic_colors_label = from-ini
        """
    )
    pytester.makepyfile(
        CHECK_COLORS
        + """
def test_options():
    options = installed()["colors"]
    assert options["allow_colors"] == ("0.25", "0.75")
    assert options["colors_label"] == "from-ini"
    assert not converts(0.5)
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_pyproject_configures_the_suite_too(
    pytester: pytest.Pytester, extra_guards: list[str]
) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        hermetic_no_colors = true
        hermetic_allow_color = ["0.25"]
        """
    )
    pytester.makepyfile(
        CHECK_COLORS
        + """
def test_options():
    assert converts(0.25) and not converts(0.5)
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_command_line_replaces_the_ini_value(
    pytester: pytest.Pytester, extra_guards: list[str]
) -> None:
    pytester.makeini(
        """
        [pytest]
        hermetic_no_colors = true
        hermetic_allow_color = 0.25
        """
    )
    pytester.makepyfile(
        CHECK_COLORS
        + """
def test_options():
    assert converts(0.75) and not converts(0.25)
"""
    )
    pytester.runpytest("--hermetic-allow-color=0.75").assert_outcomes(passed=1)


def test_a_profile_from_the_ini_file(pytester: pytest.Pytester, counter: TCPCounter) -> None:
    pytester.makeini("[pytest]\nhermetic_profile = net-hermetic\n")
    pytester.makepyfile(
        f"""
        import socket
        import pytest
        from hermetic import PolicyViolation

        def test_loopback_allowed():
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()

        def test_dns_refused():
            with pytest.raises(PolicyViolation):
                socket.getaddrinfo("example.com", 443)
        """
    )
    result = pytester.runpytest("-p", "no:socket")
    result.assert_outcomes(passed=2)
    assert counter.wait_for(1) == 1
    result.stdout.fnmatch_lines(["hermetic: allow_localhost=True, block_network=True (active*"])


def test_a_third_party_guard_by_flag_and_by_ini(
    pytester: pytest.Pytester, extra_guards: list[str]
) -> None:
    pytester.makepyfile(
        """
        import webbrowser
        from hermetic import PolicyViolation

        def test_browser():
            try:
                webbrowser.open("https://example.com")
            except PolicyViolation as exc:
                assert exc.guard == "webbrowser"
            else:
                raise AssertionError("a browser was opened")
        """
    )
    pytester.runpytest("--hermetic-no-webbrowser").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nhermetic_no_webbrowser = true\n")
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hermetic-profile", "nope"], "hermetic: unknown profile 'nope'"),
        (["--hermetic-no-network", "--hermetic-allow-domain", "a b"], "invalid allow_domains"),
        (
            ["--hermetic-allow-domain", "example.com"],
            "--hermetic-allow-domain does nothing unless the network guard is on "
            "(--hermetic-no-network, or a profile that switches it on)",
        ),
        (["--hermetic-seal"], "--hermetic-seal needs a policy that switches a guard on"),
        (
            ["--hermetic-no-network", "--hermetic-seal", "--hermetic-off"],
            "--hermetic-off is refused: the suite policy is sealed",
        ),
        (["--hermetic-scope", "session"], "scope must be one of call, test"),
    ],
)
def test_bad_settings_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_an_allow_option_in_the_ini_file_without_its_switch(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhermetic_allow_localhost = true\n")
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the ini key hermetic_allow_localhost does nothing unless" in result.stderr.str()


def test_hermetic_off_ignores_options_ini_and_markers(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makeini("[pytest]\nhermetic_no_network = true\n")
    pytester.makepyfile(
        f"""
        import socket
        import pytest

        @pytest.mark.hermetic(block_network=True)
        def test_marked():
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()

        def test_plain():
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()
        """
    )
    result = pytester.runpytest("--hermetic-off", "-p", "no:socket")
    result.assert_outcomes(passed=2)
    assert counter.wait_for(2) == 2
    result.stdout.fnmatch_lines(["hermetic: off (--hermetic-off)"])


def test_trace_reports_each_blocked_action_on_stderr(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makepyfile(
        f"""
        import socket

        def test_swallowed():
            try:
                socket.create_connection(("127.0.0.1", {counter.port}), timeout=5)
            except Exception:
                pass
            raise AssertionError("show the captured output")
        """
    )
    result = pytester.runpytest("-p", "no:socket", "--hermetic-no-network", "--hermetic-trace")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "hermetic: block_network=True; trace on (active during each test's call)",
            "*Captured stderr call*",
            f"hermetic: blocked network: connect to 127.0.0.1:{counter.port}",
        ]
    )


def test_a_bool_ini_key_with_another_value(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhermetic_fs_readonly = /srv\n")
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invalid truth value '/srv'" in result.stderr.str()
