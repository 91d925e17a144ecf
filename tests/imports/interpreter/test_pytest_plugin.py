"""The pytest plugin with ``--hermetic-no-interpreter-mutation``.

pytest puts test directories on ``sys.path`` while it collects, before any test's policy is
active; a test that imports a sibling module at test time only reads ``sys.path``. A test
that changes it fails with the guard's message, and a change the guard can only notice when
the test's policy is left is listed in the plugin's violation summary.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TESTS = """
import os, sys
import pytest

def test_imports_a_sibling_at_test_time():
    import helper
    from pkg import sub
    assert (helper.VALUE, sub.VALUE) == (5, 6)

def test_reads_and_ordinary_work(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    assert os.getcwd() and sys.path[0] and [m for m in sys.meta_path]

def test_changes_sys_path():
    sys.path.insert(0, "/plugins")

def test_changes_directory(tmp_path):
    os.chdir(tmp_path)

def test_changes_sys_path_around_its_methods():
    list.append(sys.path, "/sneaked-in")
"""


def test_plugin_guards_each_test_call(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(helper="VALUE = 5\n")
    pytester.mkpydir("pkg").joinpath("sub.py").write_text("VALUE = 6\n")
    pytester.makepyfile(test_project=TESTS)
    result = pytester.runpytest(
        "-p", "no:socket", "-p", "no:asyncio", "--hermetic-no-interpreter-mutation", "-rA"
    )
    result.assert_outcomes(passed=3, failed=2)
    out = result.stdout.str()
    assert "test_project.py::test_changes_sys_path - " in out
    assert "interpreter state is frozen: sys.path.insert(0, '/plugins')" in out
    assert "interpreter state is frozen: os.chdir(" in out
    # noticed when the test's policy was left, undone, and listed in the summary
    summary = out[out.index("hermetic violations") :]
    assert "test_changes_sys_path_around_its_methods" in summary, summary
    assert "sys.path changed without its methods: it adds '/sneaked-in'" in summary, summary
    import sys

    assert "/sneaked-in" not in sys.path and "/plugins" not in sys.path


def test_without_the_option_nothing_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(helper="VALUE = 5\n")
    pytester.mkpydir("pkg").joinpath("sub.py").write_text("VALUE = 6\n")
    pytester.makepyfile(test_project=TESTS)
    result = pytester.runpytest("-p", "no:socket", "-p", "no:asyncio")
    result.assert_outcomes(passed=5)


FIXTURES = """
import os, sys
import pytest

@pytest.fixture
def moved(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

def test_uses_a_fixture_that_changes_directory(moved):
    pass
"""


def test_scope_test_guards_fixtures_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fixtures=FIXTURES)
    args = ("-p", "no:socket", "-p", "no:asyncio", "--hermetic-no-interpreter-mutation")
    pytester.runpytest(*args).assert_outcomes(passed=1)
    result = pytester.runpytest(*args, "--hermetic-scope=test")
    result.assert_outcomes(errors=1)
    assert "interpreter state is frozen: os.chdir(" in result.stdout.str()


def test_a_sealed_suite_cannot_collect_with_the_guard(pytester: pytest.Pytester) -> None:
    """Documented: pytest puts test directories on sys.path while it collects."""
    pytester.makepyfile(helper="VALUE = 5\n")
    # a test directory that is no package: pytest puts it on sys.path to import its tests
    pytester.mkdir("sub").joinpath("test_sub.py").write_text("def test_sub():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p",
        "no:socket",
        "-p",
        "no:asyncio",
        "--hermetic-seal",
        "--hermetic-no-interpreter-mutation",
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*interpreter state is frozen: sys.path.insert(0, *"])
