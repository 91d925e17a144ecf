"""A test suite under ``--hermetic-no-environment``: pytest's own use of the environment works.

pytest sets ``PYTEST_CURRENT_TEST`` around every phase, reads ``CI`` while it explains a
failing assertion, and removes ``PYTEST_VERSION`` at exit; the tests' own reads are refused
like any program's. Every run is a subprocess with a secret in its environment.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import os, subprocess, sys
import pytest
from hermetic import PolicyViolation

def test_a_read_is_refused():
    with pytest.raises(PolicyViolation, match="HT_SECRET"):
        os.environ["HT_SECRET"]

def test_an_allowed_variable_is_read():
    assert os.environ["HT_ALLOWED"] == "allowed-value"

def test_pytests_own_variable_is_not_the_tests():
    with pytest.raises(PolicyViolation, match="PYTEST_CURRENT_TEST"):
        os.environ["PYTEST_CURRENT_TEST"]

def test_a_failing_assertion_is_explained():
    assert [1, 2, 3] == [1, 2, 4]

def test_tmp_path(tmp_path):
    (tmp_path / "f").write_text("x")
    assert (tmp_path / "f").read_text() == "x"

def test_monkeypatch_of_an_allowed_variable(monkeypatch):
    monkeypatch.setenv("HT_ALLOWED", "patched")
    assert os.environ["HT_ALLOWED"] == "patched"

def test_monkeypatch_of_a_hidden_variable_is_refused(monkeypatch):
    with pytest.raises(PolicyViolation, match="HT_SECRET"):
        monkeypatch.setenv("HT_SECRET", "overwritten")

def test_a_child_process():
    out = subprocess.run([sys.executable, "-I", "-c", "import os; print(sorted(os.environ))"],
                         capture_output=True, text=True, check=True).stdout
    assert "HT_SECRET" not in out and "HT_ALLOWED" in out

@pytest.mark.hermetic_off
def test_the_real_environment_is_intact():
    assert os.environ["HT_SECRET"] == "s3cr3t-value"
    assert os.environ["HT_ALLOWED"] == "allowed-value"
    assert "PYTEST_CURRENT_TEST" in os.environ
"""

#: The summary's lines (the refusals the tests expect, and nothing from pytest itself).
EXPECTED_VIOLATIONS = [
    "environment: 3 violations in 3 tests",
    "  test_suite.py::test_a_read_is_refused: environment disabled: read "
    "os.environ['HT_SECRET'] (use --allow-env HT_SECRET or allow_env=['HT_SECRET']) "
    "[caught by the code under test]",
    "  test_suite.py::test_pytests_own_variable_is_not_the_tests: environment disabled: read "
    "os.environ['PYTEST_CURRENT_TEST'] (use --allow-env PYTEST_CURRENT_TEST or "
    "allow_env=['PYTEST_CURRENT_TEST']) [caught by the code under test]",
    "  test_suite.py::test_monkeypatch_of_a_hidden_variable_is_refused: environment disabled: "
    "read os.environ['HT_SECRET'] (use --allow-env HT_SECRET or allow_env=['HT_SECRET']) "
    "[caught by the code under test]",
]


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_suite=SUITE)
    pytester._monkeypatch.setenv("HT_SECRET", "s3cr3t-value")
    pytester._monkeypatch.setenv("HT_ALLOWED", "allowed-value")
    return pytester.runpytest_subprocess(
        "-p",
        "no:socket",
        "--hermetic-no-environment",
        "--hermetic-allow-env",
        "HT_ALLOWED",
        "-p",
        "no:cacheprovider",
        *args,
    )


def _check(result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=8, failed=1)
    out = result.stdout.str()
    # the failing assertion is explained as usual, with no violation inside the explanation
    failures = out.split(" FAILURES ")[1].split(" hermetic violations ")[0]
    assert "E       assert [1, 2, 3] == [1, 2, 4]" in failures
    assert "At index 2 diff: 3 != 4" in failures
    assert "representation of details failed" not in failures
    assert "PolicyViolation" not in failures
    summary = out.split(" hermetic violations ")[1].split(" short test summary ")[0]
    assert summary.splitlines()[1:-1] == EXPECTED_VIOLATIONS
    assert "s3cr3t-value" not in out


@pytest.mark.parametrize("scope", ["call", "test"])
def test_a_suite_runs_under_the_guard(pytester: pytest.Pytester, scope: str) -> None:
    _check(_run(pytester, f"--hermetic-scope={scope}"))


def test_a_sealed_suite_runs_under_the_guard(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--hermetic-seal", "-k", "not real_environment")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*sealed: active for the whole session*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "Traceback" not in result.stderr.str()
