"""Known ways around the code-exec guard, each proven both ways.

Every case first shows the technique really runs its code without the guard (its label
lands in ``HITS``, appended by the code it ran), then what the guard does: ``blocked`` cases
raise the code-exec guard's ``PolicyViolation`` and their code did not run; ``residual``
cases still run under the guard, exactly as docs/guards/code-exec.md says. If a residual
starts being blocked, or a blocked case escapes, the documentation must change.
"""

from __future__ import annotations

import builtins
import marshal
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import GuardedRun

Guarded = Callable[..., GuardedRun]
BLOCK: dict[str, Any] = {"block_code_exec": True}

HEAD = """
import builtins, sys
HITS = []
def report(label, value):
    _sys.stdout.write("@@" + _json.dumps([label, "value", value]) + "\\n")
    _sys.stdout.flush()

def original(name):
    '''The real builtin behind the guard's patch (found through the wrapper's closure).'''
    found = getattr(builtins, name)
    for _ in range(8):
        cells = getattr(found, "__closure__", None) or ()
        records = [c.cell_contents for c in cells if type(c.cell_contents).__name__ == "_Patch"]
        if not records:
            return found
        found = records[0].previous
    return found
"""


def run_case(
    guarded: Guarded, mode: str, policy: dict[str, Any], code: str, **kw: Any
) -> GuardedRun:
    source = HEAD + textwrap.dedent(code) + '\nreport("HITS", sorted(set(HITS)))\n'
    run = guarded(mode, policy, source, **kw)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def hits(run: GuardedRun) -> list[str]:
    return list(run.outcomes["HITS"][2])


def blocked(guarded: Guarded, mode: str, code: str, label: str = "x", **kw: Any) -> GuardedRun:
    """``code`` runs without the guard; under it ``label`` is refused and nothing ran."""
    assert hits(run_case(guarded, mode, {}, code, **kw)) == [label]
    run = run_case(guarded, mode, BLOCK, code, **kw)
    assert hits(run) == [], run.stdout
    assert (run.status(label), run.guard(label)) == ("blocked", "code_exec"), run.outcomes
    return run


def escapes(guarded: Guarded, mode: str, code: str, label: str = "x", **kw: Any) -> None:
    """``code`` runs without the guard, and still runs under it (a documented residual)."""
    assert hits(run_case(guarded, mode, {}, code, **kw)) == [label]
    run = run_case(guarded, mode, BLOCK, code, **kw)
    assert (run.status(label), hits(run)) == ("ok", [label]), run.outcomes


# -- references captured before the guard (in-process: the bootstrap has no "before") ----


@pytest.mark.bypass(
    "code_exec", "references captured before the guard", verdict="blocked", layer="audit"
)
def test_builtins_captured_before_the_blocker() -> None:
    captured_exec, captured_eval, captured_compile = builtins.exec, builtins.eval, builtins.compile
    ran: list[str] = []
    code = compile("ran.append('code')", "<outside>", "exec")
    attempts: dict[str, tuple[str, Callable[[], object]]] = {
        "exec of a string": ("compile", lambda: captured_exec("ran.append('str')", {"ran": ran})),
        "exec of code": ("exec", lambda: captured_exec(code, {"ran": ran})),
        "eval": ("compile", lambda: captured_eval("ran.append('eval')", {"ran": ran})),
        "compile": ("compile", lambda: captured_compile("1", "f", "eval")),
    }
    for _target, attempt in attempts.values():
        attempt()
    assert ran == ["str", "code", "eval"]
    ran.clear()
    with hermetic_blocker(**BLOCK):
        for label, (target, attempt) in attempts.items():
            with pytest.raises(PolicyViolation) as caught:
                attempt()
            assert (caught.value.guard, caught.value.target) == ("code_exec", target), label
    assert ran == []


# -- the program undoes or sidesteps the patches --------------------------------------

RESTORED = """
builtins.exec = original("exec")
attempt("x", lambda: exec("HITS.append('x')"))
"""


@pytest.mark.bypass(
    "code_exec",
    "patch removed by hand (original from the wrapper's closure)",
    verdict="blocked",
    layer="audit",
)
def test_the_patch_removed_by_hand(guarded: Guarded, mode: str) -> None:
    run = blocked(guarded, mode, RESTORED)
    assert run.outcomes["x"][3] == "compile"  # the audit layer names the event


@pytest.mark.bypass(
    "code_exec", "patch removed by hand in a sealed process", verdict="blocked", layer="audit"
)
def test_the_patch_removed_by_hand_in_a_sealed_process(guarded: Guarded, mode: str) -> None:
    code = (
        RESTORED
        + "attempt('code', lambda: original('exec')((lambda: HITS.append('code')).__code__))\n"
    )
    sealed = {**BLOCK, "sealed": True}
    assert hits(run_case(guarded, mode, {}, code)) == ["code", "x"]
    run = run_case(guarded, mode, sealed, code)
    assert (hits(run), run.status("x"), run.status("code")) == ([], "blocked", "blocked")


@pytest.mark.bypass(
    "code_exec", "builtins swapped in a function's globals", verdict="blocked", layer="audit"
)
def test_builtins_swapped_in_a_functions_globals(guarded: Guarded, mode: str) -> None:
    code = """
    import types
    def run_it():
        exec("HITS.append('x')")
    swapped = {**vars(builtins), "exec": original("exec")}
    forged = types.FunctionType(run_it.__code__, {"__builtins__": swapped, "HITS": HITS})
    attempt("x", forged)
    """
    blocked(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec", "a thread started inside the blocker", verdict="blocked", layer="patch+audit"
)
def test_a_thread_started_inside_the_blocker(guarded: Guarded, mode: str) -> None:
    code = """
    import threading
    outcome = []
    def work():
        try:
            exec("HITS.append('x')")
        except Exception as e:
            outcome.append([type(e).__name__, getattr(e, "guard", None)])
    def in_a_thread(target, *args):
        thread = threading.Thread(target=target, args=args)
        thread.start()
        thread.join()
    in_a_thread(work)
    in_a_thread(exec, "HITS.append('x')")  # a refusal goes to threading.excepthook
    in_a_thread(original("exec"), "HITS.append('x')")
    report("outcome", outcome)
    """
    assert hits(run_case(guarded, mode, {}, code)) == ["x"]
    run = run_case(guarded, mode, BLOCK, code)
    assert hits(run) == []
    assert run.outcomes["outcome"][2] == [["PolicyViolation", "code_exec"]]
    assert run.stderr.count("PolicyViolation: code execution disabled") == 2, run.stderr


@pytest.mark.bypass(
    "code_exec", "importlib.reload of builtins", verdict="blocked", layer="patch+audit"
)
def test_reloading_builtins_keeps_the_patch(guarded: Guarded, mode: str) -> None:
    code = """
    import importlib
    importlib.reload(builtins)
    attempt("x", lambda: exec("HITS.append('x')"))
    """
    run = blocked(guarded, mode, code)
    assert run.outcomes["x"][3] == "exec"  # still the patch


@pytest.mark.bypass(
    "code_exec", "sys.modules: a fresh copy of runpy", verdict="blocked", layer="patch+audit"
)
def test_a_fresh_copy_of_runpy(guarded: Guarded, mode: str, tmp_path: Path) -> None:
    (tmp_path / "target.py").write_text("HITS.append('x')\n")
    code = """
    import importlib.util, os, sysconfig
    path = os.path.join(sysconfig.get_paths()["stdlib"], "runpy.py")
    spec = importlib.util.spec_from_file_location("runpy", path)
    fresh = importlib.util.module_from_spec(spec)
    sys.modules["runpy"] = fresh
    spec.loader.exec_module(fresh)
    attempt("x", lambda: fresh.run_path("target.py", init_globals={"HITS": HITS}))
    """
    blocked(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "a module claiming the name of a trusted one",
    verdict="blocked",
    layer="patch+audit",
)
def test_a_module_claiming_a_trusted_name(guarded: Guarded, mode: str) -> None:
    code = """
    def _create_fn(text, run=exec):
        run(text)
    __name__ = "dataclasses"  # while the calls are made, this module claims the name
    attempt("x", lambda: _create_fn("HITS.append('x')"))
    attempt("original", lambda: _create_fn("HITS.append('x')", original("exec")))
    __name__ = "__main__"
    """
    run = blocked(guarded, mode, code)
    assert run.status("original") == "blocked"


@pytest.mark.bypass(
    "code_exec",
    "importlib's _call_with_frames_removed called by the program",
    verdict="blocked",
    layer="patch+audit",
)
def test_the_import_systems_trampoline_called_by_the_program(guarded: Guarded, mode: str) -> None:
    code = """
    import importlib._bootstrap as bootstrap
    trampoline = bootstrap._call_with_frames_removed
    attempt("x", lambda: trampoline(exec, "HITS.append('x')", {"HITS": HITS}))
    attempt("original", lambda: trampoline(original("exec"), "HITS.append('x')", {"HITS": HITS}))
    """
    run = blocked(guarded, mode, code)
    assert run.status("original") == "blocked"


@pytest.mark.bypass(
    "code_exec",
    "a stand-in for importlib's _call_with_frames_removed, with importlib's globals",
    verdict="blocked",
    layer="audit",
)
def test_a_stand_in_for_the_import_systems_trampoline(guarded: Guarded, mode: str) -> None:
    # The import system running a module is recognised by its code objects themselves: a
    # function of the program's put in its place, with its globals and name, is the program.
    code = """
    import _frozen_importlib as bootstrap, types
    with open("fresh_mod.py", "w") as f:
        f.write("VALUE = 1\\n")
    def _call_with_frames_removed(f, *args, **kwds):
        if getattr(f, "__name__", None) == "exec":
            f("import __main__; __main__.HITS.append('x')", {})
        return f(*args, **kwds)
    stand_in = types.FunctionType(
        _call_with_frames_removed.__code__, vars(bootstrap), "_call_with_frames_removed"
    )
    def go():
        real = bootstrap._call_with_frames_removed
        bootstrap._call_with_frames_removed = stand_in
        try:
            __import__("fresh_mod")
        finally:
            bootstrap._call_with_frames_removed = real
    attempt("x", go)
    """
    blocked(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "a C function calling the builtin (map, functools.partial)",
    verdict="blocked",
    layer="patch+audit",
)
def test_the_builtin_called_from_c(guarded: Guarded, mode: str) -> None:
    code = """
    import functools
    attempt("x", lambda: list(map(exec, ["HITS.append('x')"])))
    attempt("partial", functools.partial(exec, "HITS.append('x')"))
    attempt("original", lambda: list(map(original("exec"), ["HITS.append('x')"])))
    """
    run = blocked(guarded, mode, code)
    assert run.status("partial") == run.status("original") == "blocked"


@pytest.mark.bypass(
    "code_exec",
    "ctypes: the C API's PyRun_SimpleString and Py_CompileString",
    verdict="blocked",
    layer="audit",
)
def test_the_c_api_through_ctypes(guarded: Guarded, mode: str) -> None:
    code = """
    import ctypes
    api = ctypes.pythonapi
    api.Py_CompileString.restype = ctypes.py_object
    api.Py_CompileString.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    def simple():
        if api.PyRun_SimpleString(b"import __main__; __main__.HITS.append('x')") != 0:
            raise RuntimeError("PyRun_SimpleString reported an error")
    attempt("x", simple)
    attempt("compile", lambda: api.Py_CompileString(b"1", b"<c>", 257))
    """
    assert hits(run_case(guarded, mode, {}, code)) == ["x"]
    run = run_case(guarded, mode, BLOCK, code)
    assert hits(run) == []
    # PyRun_SimpleString prints the exception and returns -1: the code did not run
    assert run.outcomes["x"][2:4] == ["RuntimeError", "PyRun_SimpleString reported an error"]
    assert "PolicyViolation: code execution disabled: compile of" in run.stderr
    assert (run.status("compile"), run.guard("compile")) == ("blocked", "code_exec")


# -- residuals: what the guard does not stop ------------------------------------------


@pytest.mark.bypass(
    "code_exec",
    "string annotations evaluated by typing (ForwardRef)",
    verdict="residual",
    layer="none",
)
def test_typing_evaluates_any_expression_given_as_an_annotation(
    guarded: Guarded, mode: str
) -> None:
    code = """
    import typing
    class Holder:
        pass
    Holder.__annotations__ = {"v": "HITS.append('x') or int"}
    attempt("x", lambda: typing.get_type_hints(Holder))
    """
    escapes(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "a standard-library code generator fed the program's text",
    verdict="residual",
    layer="none",
)
def test_a_stdlib_code_generator_fed_program_text(guarded: Guarded, mode: str) -> None:
    code = """
    from multiprocessing.managers import MakeProxyType
    method = "f(self):\\n    pass\\nimport __main__; __main__.HITS.append('x')\\ndef g"
    attempt("x", lambda: MakeProxyType("Injected", [method]))
    """
    escapes(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "import system: a module the program writes, then imports",
    verdict="residual",
    layer="none",
)
def test_a_module_written_then_imported(guarded: Guarded, mode: str) -> None:
    code = """
    with open("written.py", "w") as f:
        f.write("import __main__; __main__.HITS.append('x')\\n")
    attempt("x", lambda: __import__("written"))
    """
    escapes(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "import system: a loader serving source from memory",
    verdict="residual",
    layer="none",
)
def test_a_loader_serving_source_from_memory(guarded: Guarded, mode: str) -> None:
    code = """
    import importlib.abc, importlib.util
    class Memory(importlib.abc.SourceLoader):
        def get_filename(self, name):
            return name + ".py"
        def get_data(self, path):
            return b"import __main__; __main__.HITS.append('x')"
    def load():
        spec = importlib.util.spec_from_loader("in_memory", Memory())
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    attempt("x", load)
    """
    escapes(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "bytecode from marshal run through types.FunctionType",
    verdict="residual",
    layer="none",
)
def test_marshalled_bytecode_run_as_a_function(guarded: Guarded, mode: str) -> None:
    payload = marshal.dumps(compile("HITS.append('x')", "<payload>", "exec"))
    code = f"""
    import marshal, types
    attempt("x", lambda: types.FunctionType(marshal.loads({payload!r}), globals())())
    """
    escapes(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "a function forged to look like a trusted code generator",
    verdict="residual",
    layer="none",
)
def test_a_function_forged_as_a_trusted_generator(guarded: Guarded, mode: str) -> None:
    code = """
    import dataclasses, types
    def _create_fn(text):
        exec(text)
    forged_code = _create_fn.__code__.replace(co_filename=dataclasses.__file__)
    forged = types.FunctionType(forged_code, {"__name__": "dataclasses", "__builtins__": builtins})
    attempt("x", lambda: forged("import __main__; __main__.HITS.append('x')"))
    """
    escapes(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "ctypes: PyEval_EvalCode of a code object the program holds",
    verdict="residual",
    layer="none",
)
def test_the_c_api_running_an_existing_code_object(guarded: Guarded, mode: str) -> None:
    code = """
    import ctypes
    api = ctypes.pythonapi
    api.PyEval_EvalCode.restype = ctypes.py_object
    api.PyEval_EvalCode.argtypes = [ctypes.py_object] * 3
    held = (lambda: HITS.append('x')).__code__
    attempt("x", lambda: api.PyEval_EvalCode(held, globals(), globals()))
    """
    escapes(guarded, mode, code)


@pytest.mark.bypass(
    "code_exec",
    "the guard's own state edited through its closure",
    verdict="residual",
    layer="none",
)
def test_the_guards_own_state_edited(guarded: Guarded, mode: str) -> None:
    code = """
    import _thread

    def cells(function, seen):
        for cell in getattr(function, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if id(value) in seen:
                continue
            seen.add(id(value))
            yield value
            yield from cells(value, seen)
            # a patch layer's record holds the guard's function it calls
            yield from cells(getattr(value, "hook", None), seen)

    def announce():
        for value in cells(builtins.exec, set()):
            if isinstance(value, _thread._local):
                value.expect = ("compile", "exec")  # "the patch allowed this one"

    def go():
        announce()
        original("exec")("HITS.append('x')")

    attempt("x", go)
    """
    escapes(guarded, mode, code)
