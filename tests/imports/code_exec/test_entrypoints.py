"""The ways a program starts under the guard: the interpreter runs it, the guard does not.

``python script.py``, ``-c``, ``-m``, a zipapp, a piped REPL and a multiprocessing ``spawn``
child go through the bootstrap; the ``hermetic`` command runs a script in-process and
through the bootstrap; the pytest plugin imports test-time modules through its assertion
rewriting. Each program also evaluates a string, which is refused, while everything before
it ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipapp
from pathlib import Path

import pytest

from hermetic.policy import BlockConfig
from hermetic_cli import EXIT_VIOLATION
from hermetic_testsupport.runs import write_bootstrap

pytest_plugins = ["pytester"]

SCRIPT = """
import dataclasses, sys
sys.dont_write_bytecode = True

@dataclasses.dataclass
class Point:
    x: int

print("dataclass", Point(1))
import fresh_helper
print("import", fresh_helper.VALUE)
print("eval", eval("6 * 7"))
"""

SPAWN = """
import multiprocessing

def work(queue):
    import dataclasses
    queue.put("child ran " + dataclasses.__name__)

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=work, args=(queue,))
    child.start()
    print(queue.get(timeout=60))
    child.join()
    print("exit", child.exitcode)
"""


def write_program(where: Path) -> Path:
    (where / "fresh_helper.py").write_text("VALUE = 'fresh'\n")
    script = where / "prog.py"
    script.write_text(textwrap.dedent(SCRIPT))
    return script


def environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HERMETIC"))}
    env.update(extra)
    return env


def run(
    argv: list[str], cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def assert_ran_up_to_the_eval(proc: subprocess.CompletedProcess[str]) -> None:
    assert "dataclass Point(x=1)\nimport fresh\n" in proc.stdout, proc.stdout + proc.stderr
    assert "eval 42" not in proc.stdout


def test_the_interpreter_starts_every_kind_of_program(bare_python: str, tmp_path: Path) -> None:
    write_program(tmp_path)
    (tmp_path / "spawner.py").write_text(textwrap.dedent(SPAWN))
    source = tmp_path / "app_src"
    source.mkdir()
    (source / "__main__.py").write_text(textwrap.dedent(SCRIPT))
    (source / "fresh_helper.py").write_text("VALUE = 'fresh'\n")
    zipapp.create_archive(source, tmp_path / "app.pyz")
    cases = {
        "script": [bare_python, "prog.py"],
        "-c": [bare_python, "-c", textwrap.dedent(SCRIPT)],
        "-m": [bare_python, "-m", "prog"],
        "zipapp": [bare_python, "app.pyz"],
    }
    directory = write_bootstrap(BlockConfig(block_code_exec=True), tmp_path / "cache")
    guarded_env = environ(PYTHONPATH=directory)
    for label, argv in cases.items():
        plain = run(argv, tmp_path, environ())
        assert plain.returncode == 0 and "eval 42" in plain.stdout, (label, plain.stderr)
        proc = run(argv, tmp_path, guarded_env)
        assert proc.returncode == 1, (label, proc.stdout, proc.stderr)
        assert_ran_up_to_the_eval(proc)
        assert "PolicyViolation: code execution disabled: eval('6 * 7')" in proc.stderr, label

    repl = run([bare_python, "-i"], tmp_path, guarded_env, stdin="print(6 * 7)\neval('1')\n")
    assert "42" in repl.stdout, repl.stderr  # the interpreter's REPL compiles each line itself
    assert "PolicyViolation: code execution disabled: eval('1')" in repl.stderr

    spawned = run([bare_python, "spawner.py"], tmp_path, guarded_env)
    assert spawned.returncode == 0, spawned.stderr
    assert spawned.stdout == "child ran dataclasses\nexit 0\n"


@pytest.mark.parametrize("delivery", ["in-process", "bootstrap"])
def test_the_hermetic_command_runs_a_script_under_the_guard(tmp_path: Path, delivery: str) -> None:
    script = write_program(tmp_path)
    target = [str(script)] if delivery == "in-process" else [sys.executable, str(script)]
    env = environ(HERMETIC_CACHE_DIR=str(tmp_path / "cache"), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "hermetic"]
    plain = run([*command, "--", *target], tmp_path, env)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.endswith("eval 42\n")
    proc = run([*command, "--no-code-exec", "--", *target], tmp_path, env)
    assert proc.returncode == EXIT_VIOLATION, proc.stdout + proc.stderr
    assert_ran_up_to_the_eval(proc)
    assert proc.stderr == f"hermetic: blocked code_exec: eval('6 * 7') in {script}:12\n"


TEST_MODULE = """
import sys

def test_imports_a_module_rewritten_for_this_test():
    import helpers  # rewritten by pytest's assertion rewriting, now
    assert helpers.__loader__.__class__.__name__ == "AssertionRewritingHook"
    try:
        helpers.check(2)
    except AssertionError as error:
        assert "assert 2 == 1" in str(error)
    else:
        raise AssertionError("not rewritten")

def test_imports_a_module_with_no_bytecode():
    sys.dont_write_bytecode = True
    try:
        import plain_helper
    finally:
        sys.dont_write_bytecode = False
    assert plain_helper.VALUE == "plain"

def test_evaluates_a_string():
    assert eval("1 + 1") == 2
"""


def test_the_pytest_plugin_imports_test_time_modules_through_assertion_rewriting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # pytest caches what it rewrote
    pytester.makeconftest("import pytest\npytest.register_assert_rewrite('helpers')\n")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_imports=TEST_MODULE,
        helpers="def check(x):\n    assert x == 1\n",
        plain_helper="VALUE = 'plain'\n",
    )
    cached = pytester.path / "__pycache__"
    # First rewritten from source under the guard, then read from pytest's own .pyc.
    for run in range(2):
        result = pytester.runpytest("-p", "no:cacheprovider", "--hermetic-no-code-exec")
        result.assert_outcomes(passed=2, failed=1)
        result.stdout.fnmatch_lines(
            ["*test_evaluates_a_string*", "*PolicyViolation: code execution disabled: eval*"]
        )
        assert len(list(cached.glob("helpers*pytest*.pyc"))) == 1, run
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


EVALUATED_TEST_TEXT = '''
import pytest

@pytest.mark.skipif("sys.platform == 'no such platform'")
def test_with_a_string_condition():
    pass

def documented():
    """
    >>> 6 * 7
    42
    """
'''


def test_pytest_runners_of_test_text_under_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_text=EVALUATED_TEST_TEXT)
    args = ["-p", "no:cacheprovider", "--doctest-modules"]
    pytester.runpytest(*args).assert_outcomes(passed=2)
    # Only the test call is guarded by default: the string condition is evaluated at setup.
    result = pytester.runpytest(*args, "--hermetic-no-code-exec")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_text.documented*", "*PolicyViolation*compile*"])
    result = pytester.runpytest(*args, "--hermetic-no-code-exec", "--hermetic-scope=test")
    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(["*Error evaluating 'skipif' condition*"])


WHOLE_RUN = """
import dataclasses
import pytest

@dataclasses.dataclass
class Point:
    x: int

def test_assert_rewriting():
    with pytest.raises(AssertionError, match="assert 1 == 2"):
        assert Point(1).x == 2

@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(n):
    assert n in (1, 2)

def test_evaluates_a_string():
    eval("1")
"""


def test_a_whole_pytest_run_under_the_hermetic_command(tmp_path: Path) -> None:
    (tmp_path / "test_whole.py").write_text(WHOLE_RUN)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = environ(HERMETIC_CACHE_DIR=str(tmp_path / "cache"))
    pytest_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    pytest_run += ["-k", "rewriting or parametrized or string", "test_whole.py"]
    command = [sys.executable, "-m", "hermetic", "--no-code-exec", "--", *pytest_run]
    proc = run(command, tmp_path, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # pytest's "tests failed"
    assert "1 failed, 3 passed" in proc.stdout, proc.stdout
    assert "FAILED test_whole.py::test_evaluates_a_string - hermetic.errors.PolicyViolati" in (
        proc.stdout  # (pytest cuts the line to the terminal's width)
    )
