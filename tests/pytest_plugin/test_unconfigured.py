"""Without an option, ini key or marker the plugin has no effect, and costs no import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hermetic_testsupport.servers import TCPCounter

pytest_plugins = ["pytester"]


def test_importing_the_plugin_imports_nothing_but_hermetic_errors() -> None:
    probe = textwrap.dedent(
        """
        import sys
        import pytest
        before = set(sys.modules)
        import hermetic.pytest_plugin
        print(sorted(set(sys.modules) - before))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == str(["hermetic", "hermetic.errors", "hermetic.pytest_plugin"])


def test_an_unconfigured_run_registers_nothing_and_blocks_nothing(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makepyfile(
        f"""
        import socket
        import sys

        from hermetic._activation import ACTIVATION
        from hermetic._runtime import RUNTIME

        def test_connects(request):
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()
            manager = request.config.pluginmanager
            assert manager.get_plugin("hermetic-scope") is None
            assert manager.get_plugin("hermetic-recorder") is None
            assert ACTIVATION.installed() == {{}}
            assert RUNTIME._observers == ()
        """
    )
    result = pytester.runpytest("-p", "no:socket")
    result.assert_outcomes(passed=1)
    assert counter.wait_for(1) == 1
    assert "hermetic:" not in result.stdout.str()
    assert "hermetic violations" not in result.stdout.str()


def test_an_unconfigured_run_imports_no_policy_machinery(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_modules():
            loaded = {name for name in sys.modules if name.startswith("hermetic")}
            assert "hermetic._pytest_plan" not in loaded, loaded
            assert "hermetic._pytest_session" not in loaded, loaded
            assert "hermetic.blocker" not in loaded, loaded
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:socket")
    result.assert_outcomes(passed=1)


def test_the_markers_exist_for_strict_markers_even_unconfigured(
    pytester: pytest.Pytester, counter: TCPCounter
) -> None:
    pytester.makepyfile(
        f"""
        import socket
        import pytest

        @pytest.mark.hermetic_off
        def test_off():
            socket.create_connection(("127.0.0.1", {counter.port}), timeout=5).close()
        """
    )
    result = pytester.runpytest("--strict-markers", "-p", "no:socket")
    result.assert_outcomes(passed=1)
    assert counter.wait_for(1) == 1
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.hermetic(*profiles, **policy):*", "*hermetic_off*"])


def test_disabling_the_plugin_by_name_works(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest("-p", "no:hermetic")
    result.assert_outcomes(passed=1)


def test_help_lists_options_generated_from_the_installed_guards(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    for flag in (
        "--hermetic-no-network",
        "--hermetic-allow-localhost",
        "--hermetic-allow-domain=DOMAIN",
        "--hermetic-fs-readonly",
        "--hermetic-fs-root",
        "--hermetic-allow-write",
        "--hermetic-profile=NAME",
        "--hermetic-trace",
        "--hermetic-seal",
        "--hermetic-scope",
        "--hermetic-off",
        "hermetic_no_network (bool)",
        "hermetic_allow_domain (args)",
        "hermetic_profile (args)",
        "hermetic_scope (string)",
    ):
        assert flag in out, flag
