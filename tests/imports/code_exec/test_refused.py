"""Every way of running code the guard refuses, proven both ways, in both delivery modes.

Each case's code appends its label to ``HITS`` from inside the code it tries to run. Without
the guard every case runs; under ``block_code_exec`` none does, and each raised the
code-exec guard's ``PolicyViolation`` with the builtin (or runpy function) as its target,
except the two runners that swallow the exceptions of what they run (doctest, .pth files):
they report the failure and carry on, and their code still did not run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from .conftest import BLOCK, Guarded, body, check, hits


class Case(NamedTuple):
    """One surface: a statement (``MARK`` is the case's append, ``SRC`` that as source)."""

    statement: str
    target: str | None  # the PolicyViolation's target; None: the runner swallows it


CASES: dict[str, Case] = {
    "eval": Case("eval(SRC)", "eval"),
    "eval of a code object": Case("eval((lambda: MARK).__code__)", "eval"),
    "exec": Case("exec(SRC)", "exec"),
    "exec with namespaces": Case("exec(SRC, {'HITS': HITS}, {})", "exec"),
    "exec of a code object": Case("exec((lambda: MARK).__code__)", "exec"),
    "exec of compiled code": Case("exec(compile(SRC, 'f', 'exec'))", "compile"),
    "compile": Case("compile('1 + 1', 'f', 'eval'); MARK", "compile"),
    "compile of an AST": Case("compile(ast.parse(SRC), 'f', 'exec'); MARK", "compile"),
    "runpy.run_path": Case(
        "runpy.run_path('rp.py', init_globals={'HITS': HITS})", "runpy.run_path"
    ),
    "runpy.run_path of a directory": Case(
        "runpy.run_path('rpdir', init_globals={'HITS': HITS})", "runpy.run_path"
    ),
    "runpy.run_module": Case(
        "runpy.run_module('rm_target', init_globals={'HITS': HITS})", "runpy.run_module"
    ),
    "runpy.run_module, alter_sys": Case(
        "runpy.run_module('rm_sys', init_globals={'HITS': HITS}, alter_sys=True)",
        "runpy.run_module",
    ),
    "runpy._run_code": Case(
        "runpy._run_code((lambda: MARK).__code__, {'HITS': HITS})", "runpy._run_code"
    ),
    "timeit with a string": Case("timeit.timeit(SRC, number=1, globals={'HITS': HITS})", "compile"),
    "timeit with a callable": Case("timeit.timeit(lambda: MARK, number=1)", "compile"),
    "code.InteractiveInterpreter": Case(
        "code.InteractiveInterpreter({'HITS': HITS}).runsource(SRC)", "compile"
    ),
    "bdb (pdb's engine)": Case("bdb.Bdb().run(SRC, {'HITS': HITS})", "compile"),
    "cProfile.runctx": Case("cProfile.runctx(SRC, {'HITS': HITS}, {}, os.devnull)", "exec"),
    "logging.config.fileConfig": Case("logging.config.fileConfig('log.ini')", "eval"),
    "doctest": Case("doctest.run_docstring_examples(documented, {'HITS': HITS})", None),
    "site.addsitedir (.pth import line)": Case("site.addsitedir(os.path.abspath('pth'))", None),
}

SETUP = """
import ast, bdb, code, cProfile, doctest, logging, logging.config, os, runpy, site, sys, timeit

class MarkingHandler(logging.Handler):
    def __init__(self, *args):
        HITS.append('logging.config.fileConfig')
        super().__init__()

def documented():
    '''
    >>> HITS.append('doctest')
    '''
"""

LOG_INI = """
[loggers]
keys=root
[handlers]
keys=marking
[formatters]
keys=
[logger_root]
handlers=marking
[handler_marking]
class=__main__.MarkingHandler
args=()
"""


def write_targets(where: Path) -> None:
    """The files the runpy, logging and .pth cases run."""
    (where / "rp.py").write_text("HITS.append('runpy.run_path')\n")
    (where / "rpdir").mkdir()
    (where / "rpdir" / "__main__.py").write_text("HITS.append('runpy.run_path of a directory')\n")
    (where / "rm_target.py").write_text("HITS.append('runpy.run_module')\n")
    (where / "rm_sys.py").write_text("HITS.append('runpy.run_module, alter_sys')\n")
    (where / "log.ini").write_text(LOG_INI)
    (where / "pth").mkdir()
    (where / "pth" / "mark.pth").write_text(
        "import sys; sys.modules['__main__'].HITS.append('site.addsitedir (.pth import line)')\n"
    )


def surfaces_body() -> str:
    lines = [SETUP]
    for n, (label, case) in enumerate(CASES.items()):
        mark = f"HITS.append({label!r})"
        statement = case.statement.replace("SRC", repr(mark)).replace("MARK", mark)
        lines.append(f"def case_{n}():\n    {statement}\nattempt({label!r}, case_{n})")
    return body("\n".join(lines))


def test_every_surface_runs_without_the_guard_and_is_refused_under_it(
    guarded: Guarded, mode: str, tmp_path: Path
) -> None:
    write_targets(tmp_path)
    source = surfaces_body()
    plain = check(guarded(mode, {}, source))
    assert {label: plain.status(label) for label in CASES} == dict.fromkeys(CASES, "ok")
    assert hits(plain) == sorted(CASES)

    run = check(guarded(mode, BLOCK, source))
    assert hits(run) == []
    for label, case in CASES.items():
        if case.target is None:
            assert run.status(label) == "ok", label  # the runner reported and carried on
            continue
        assert run.status(label) == "blocked", (label, run.outcomes[label])
        assert run.guard(label) == "code_exec"
        assert run.outcomes[label][3] == case.target, (label, run.outcomes[label])


def test_the_message_says_what_was_refused_where_and_how_to_allow_it(
    guarded: Guarded, mode: str
) -> None:
    source = body(
        """
        import runpy
        attempt("eval", lambda: eval("6 *  7"))
        attempt("run_path", lambda: runpy.run_path("missing_but_never_read.py"))
        """
    )
    run = check(guarded(mode, BLOCK, source))
    message = run.outcomes["eval"][4]
    assert message.startswith("code execution disabled: eval('6 * 7') in <string>:"), message
    assert message.endswith(
        "(to allow it, drop --no-code-exec / block_code_exec=True; code run by an importable "
        "module can be trusted with --allow-code-exec-from MODULE)"
    )
    # runpy.run_path reads the file before compiling it: a missing one is its own error
    assert run.status("run_path") == "error"


def test_a_module_that_generates_code_is_named_in_the_hint(
    guarded: Guarded, mode: str, tmp_path: Path
) -> None:
    package = tmp_path / "templating"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "render.py").write_text("def render(text):\n    return eval(text)\n")
    source = body(
        "import templating.render\nattempt('render', lambda: templating.render.render('1'))"
    )
    run = check(guarded(mode, BLOCK, source))
    assert run.outcomes["render"][3] == "eval"
    message = run.outcomes["render"][4]
    assert "eval('1') in " + str(package / "render.py") + ":2" in message
    assert message.endswith(
        "(if templating.render generates code on purpose, trust it with "
        "--allow-code-exec-from templating.render or "
        "allow_code_exec_from=['templating.render'])"
    )


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exec's closure argument is 3.11+")
def test_exec_with_a_closure_is_refused(guarded: Guarded, mode: str) -> None:
    source = body(
        """
        def outer():
            x = 'exec with a closure'
            def inner():
                HITS.append(x)
            return inner
        f = outer()
        attempt('closure', lambda: exec(f.__code__, globals(), closure=f.__closure__))
        """
    )
    assert hits(check(guarded(mode, {}, source))) == ["exec with a closure"]
    run = check(guarded(mode, BLOCK, source))
    assert (run.status("closure"), hits(run)) == ("blocked", [])


TRUSTED_RUNNERS = {
    "timeit with a string": ["timeit"],
    "timeit with a callable": ["timeit"],
    "doctest": ["doctest"],
    "bdb (pdb's engine)": ["bdb"],
    "cProfile.runctx": ["cProfile"],
    "code.InteractiveInterpreter": ["code", "codeop"],
    "logging.config.fileConfig": ["logging.config"],
    "site.addsitedir (.pth import line)": ["site"],
}


def test_a_runner_that_executes_what_it_is_given_can_be_trusted_by_name(
    guarded: Guarded, mode: str, tmp_path: Path
) -> None:
    write_targets(tmp_path)
    allowed = sorted({m for modules in TRUSTED_RUNNERS.values() for m in modules})
    run = check(guarded(mode, {**BLOCK, "allow_code_exec_from": allowed}, surfaces_body()))
    assert set(TRUSTED_RUNNERS) <= set(hits(run))
    assert {label for label in TRUSTED_RUNNERS if run.status(label) != "ok"} == set()
    assert run.status("eval") == "blocked"  # the program itself is still refused
