"""The known-bypass catalogue of the interpreter guard: one test per technique, both ways.

Every technique runs in one body per delivery mode and policy: without any guard (it
really changes what it targets: a module becomes importable from the probe directory, the
working directory moves, a trace function runs, a ``.pth`` line runs), under
``block_interpreter_mutation`` and under the same policy sealed. A ``blocked`` case proves
its effect did not happen; a ``residual`` case proves it still happens under the guard, as
docs/guards/interpreter.md says. Techniques that need a reference taken *before* the guard
run in-process only: in the bootstrap the guard is in place before the program's first
line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hermetic.bootstrap import materialize
from hermetic.policy import BlockConfig
from hermetic_testsupport.runs import PRELUDE, GuardedRun

GUARD = "interpreter"
POLICY = {"block_interpreter_mutation": True}
POLICIES: dict[str, dict[str, Any]] = {
    "free": {},
    "guarded": POLICY,
    "sealed": {**POLICY, "sealed": True},
}

HELPERS = """
import gc, importlib, os, sys, threading, types
def report(label, value):
    _sys.stdout.write("@@" + _json.dumps([label, "value", value]) + "\\n")
    _sys.stdout.flush()
def marks(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []
def forget(path):
    try:
        os.remove(path)
    except OSError:
        pass
calls = []
def tracer(frame, event, arg):
    calls.append(event)
def traced():
    return 1
HERE = os.getcwd()
def imported():
    found = {"imported": "probe_mod" in sys.modules, "marks": marks(MARKS)}
    sys.modules.pop("probe_mod", None)
    forget(MARKS)
    return found
def import_probe():
    try:
        import probe_mod
    except ModuleNotFoundError:
        pass
def put_back(attr, obj, contents):
    # undo whatever a case did (nothing, under the guard) for the next case
    if getattr(sys, attr) is not obj:
        setattr(sys, attr, obj)
    list.__setitem__(obj, slice(None), contents)
def go_home():
    try:
        os.chdir(HERE)
    except Exception:  # refused: only libc can bring the residual case back
        import ctypes
        ctypes.CDLL(None).chdir(os.fsencode(HERE))
"""

#: Taken before the blocker in-process (in the bootstrap the guard is already there).
BEFORE = """
APPEND = sys.path.append
CHDIR = os.chdir
SETTRACE = sys.settrace
"""

CASES = """
PATH, PATH_CONTENTS = sys.path, list(sys.path)
def case(label, fn, effect, cleanup=None):
    attempt(label, fn)
    report(label + ":effect", effect())
    if cleanup is not None:
        cleanup()
    put_back("path", PATH, PATH_CONTENTS)

def moved():
    now = os.getcwd()
    go_home()
    return now != HERE
def tracing_off():
    try:
        sys.settrace(None)
    except Exception:  # refused by the audit layer once the patch is gone
        pass
def was_traced():
    tracing_off()
    found = bool(calls)
    calls.clear()
    return found
def pth_ran():
    found = {"ran": bool(marks(PTH_MARK)), "extra": EXTRA in sys.path}
    forget(PTH_MARK)
    return found

if INPROCESS:
    case("captured_bound_method", lambda: (APPEND(PROBE), import_probe()), imported)
    case("captured_chdir", lambda: CHDIR(PROBE), moved)
    case("captured_settrace", lambda: (SETTRACE(tracer), traced()), was_traced)

def posix_chdir():
    import posix
    posix.chdir(PROBE)
case("c_level_chdir", posix_chdir, moved)
case("unbound_list_method", lambda: (list.insert(sys.path, 0, PROBE), import_probe()), imported)
def replace():
    sys.path = [PROBE] + list(sys.path)
    import_probe()
case("replace_sys_path", replace, imported)
def replace_import_module():
    sys.path = [PROBE] + list(sys.path)
    try:
        importlib.import_module("probe_mod")
    except ModuleNotFoundError:
        pass
case("replace_then_import_module", replace_import_module, imported)
def original_from_gc():
    found = [o for o in gc.get_objects()
             if type(o) is list and o is not PATH_CONTENTS and o == PATH_CONTENTS]
    # under the guard: the list it replaced; without it there is none but sys.path itself
    obj = next((o for o in found if o is not sys.path), list(sys.path))
    obj.insert(0, PROBE)
    sys.path = obj
    import_probe()
case("original_found_by_gc", original_from_gc, imported)

def thread_body():
    attempt("thread.sys_path", lambda: sys.path.insert(0, PROBE))
    attempt("thread.chdir", lambda: os.chdir(PROBE))
    attempt("thread.settrace", lambda: (sys.settrace(tracer), traced()))
    tracing_off()
    report("thread:effect", {"path": PROBE in sys.path, "moved": os.getcwd() != HERE,
                             "traced": bool(calls)})
def in_a_thread():
    t = threading.Thread(target=thread_body)
    t.start()
    t.join()
case("new_thread", in_a_thread, lambda: None, lambda: (go_home(), calls.clear()))

def reload_site():
    import site
    try:
        importlib.reload(site)  # re-runs site.main()
    except Exception:
        pass
    site.addsitedir(SITEDIR)  # SITEDIR is already on sys.path (PYTHONPATH)
case("reload_site", reload_site, pth_ran)
def fresh_site():
    import importlib.util
    saved = sys.modules.pop("site")
    try:
        fresh = importlib.util.module_from_spec(importlib.util.find_spec("site"))
        try:
            fresh.__spec__.loader.exec_module(fresh)  # runs site.main() again
        except Exception:
            pass
        fresh.addsitedir(SITEDIR)
    finally:
        sys.modules["site"] = saved
case("fresh_site_in_sys_modules", fresh_site, pth_ran)
def fresh_threading():
    saved = sys.modules.pop("threading")
    try:
        import threading as fresh
        fresh.settrace(tracer)
        t = fresh.Thread(target=traced)
        t.start()
        t.join()
    finally:
        sys.modules["threading"] = saved
case("fresh_threading_in_sys_modules", fresh_threading, lambda: bool(calls), calls.clear)

import ctypes
def pythonapi_append():
    ctypes.pythonapi.PyList_Append(ctypes.py_object(sys.path), ctypes.py_object(PROBE))
    import_probe()
case("ctypes_pylist_append", pythonapi_append, imported)
def pythonapi_setobject():
    ctypes.pythonapi.PySys_SetObject(b"path", ctypes.py_object([PROBE] + list(sys.path)))
    import_probe()
case("ctypes_pysys_setobject", pythonapi_setobject, imported)
case("ctypes_libc_chdir",
     lambda: ctypes.CDLL(None).chdir(os.fsencode(PROBE)) == 0 or 1/0, moved)

# residuals: the import system's other state is not frozen
def hijack_importer_cache():
    from importlib.machinery import FileFinder, SourceFileLoader
    entry = os.path.dirname(os.__file__)
    saved = sys.path_importer_cache.get(entry)
    sys.path_importer_cache[entry] = FileFinder(PROBE, (SourceFileLoader, [".py"]))
    try:
        import_probe()
    finally:
        sys.path_importer_cache[entry] = saved
case("path_importer_cache_entry", hijack_importer_cache, imported)
def swap_import():
    import builtins
    real = builtins.__import__
    def fake(name, *args, **kwargs):
        if name == "probe_mod":
            module = types.ModuleType("probe_mod")
            sys.modules["probe_mod"] = module
            return module
        return real(name, *args, **kwargs)
    builtins.__import__ = fake
    try:
        import probe_mod
    finally:
        builtins.__import__ = real
case("builtins_import_replaced", swap_import,
     lambda: {"imported": sys.modules.pop("probe_mod", None) is not None})
def inject_module():
    sys.modules["probe_mod"] = types.ModuleType("probe_mod")
    import probe_mod
case("sys_modules_entry", inject_module,
     lambda: {"imported": sys.modules.pop("probe_mod", None) is not None})
def as_a_child(path):
    import multiprocessing.process, multiprocessing.spawn
    me = multiprocessing.process.current_process()
    me._inheriting = True  # what a child inheriting its process object looks like
    try:
        multiprocessing.spawn.prepare({"sys_path": path, "dir": HERE})
    finally:
        del me._inheriting
case("multiprocessing_prepare_called",
     lambda: (as_a_child([PROBE] + list(sys.path)), import_probe()), imported,
     lambda: as_a_child(list(PATH_CONTENTS)))
import inspect, pkgutil, zipimport
def read_before_next_import():
    list.append(sys.path, PROBE)
    report("listed", "probe_mod" in {m.name for m in pkgutil.iter_modules()})
case("reads_before_the_next_import", read_before_next_import, lambda: None)

# last: every patch taken away by hand; the audit layer is what is left
def remove_patches():
    for obj in gc.get_objects():
        if type(obj).__name__ == "_Patch" and getattr(obj, "replacement", None) is not None:
            setattr(obj.owner, obj.attr, obj.previous)
    if type(sys.path) is not list:
        for method in ("append", "insert", "extend", "__setitem__", "__iadd__"):
            delattr(type(sys.path), method)
def patches_removed():
    remove_patches()
    attempt("removed.settrace", lambda: (sys.settrace(tracer), traced()))
    tracing_off()
    attempt("removed.threading", lambda: (threading.settrace(tracer), in_thread_traced()))
    threading.settrace(None)
    attempt("removed.list_method", lambda: (sys.path.insert(0, PROBE), import_probe()))
    report("removed.list_method:effect", imported())
    put_back("path", PATH, PATH_CONTENTS)
    import site
    attempt("removed.addsitedir", lambda: site.addsitedir(SITEDIR))
    report("removed.addsitedir:effect", pth_ran())
    attempt("removed.chdir", lambda: os.chdir(PROBE))
    report("removed.chdir:effect", moved())
    report("removed.traced", bool(calls))
def in_thread_traced():
    t = threading.Thread(target=traced)
    t.start()
    t.join()
patches_removed()
"""

PTH = """\
import os; open({mark!r}, "a").write("ran\\n")
{extra}
"""

PROBE_MOD = """\
import os
with open(os.path.join(os.path.dirname(__file__), "marks.txt"), "a") as f:
    f.write(__name__ + "\\n")
"""


class Catalogue:
    """The runs of the catalogue body, made on first use: ``(mode, policy name) -> run``."""

    def __init__(self, root: Path, bare_python: str) -> None:
        self.root = Path(os.path.realpath(root))
        self.bare_python = bare_python
        self.runs: dict[tuple[str, str], GuardedRun] = {}
        probe, sitedir = self.root / "probe", self.root / "sitedir"
        probe.mkdir()
        (probe / "probe_mod.py").write_text(PROBE_MOD)
        (sitedir / "extra").mkdir(parents=True)
        mark = sitedir / "pth-ran.txt"
        (sitedir / "probe.pth").write_text(PTH.format(mark=str(mark), extra=sitedir / "extra"))
        self.paths = {
            "PROBE": str(probe),
            "MARKS": str(probe / "marks.txt"),
            "SITEDIR": str(sitedir),
            "EXTRA": str(sitedir / "extra"),
            "PTH_MARK": str(mark),
        }

    def __call__(self, mode: str, policy: str) -> GuardedRun:
        key = (mode, policy)
        if key not in self.runs:
            self.runs[key] = self._run(mode, POLICIES[policy])
        return self.runs[key]

    def _run(self, mode: str, policy: dict[str, Any]) -> GuardedRun:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        head = PRELUDE + "".join(f"{k} = {v!r}\n" for k, v in self.paths.items()) + HELPERS
        head += f"INPROCESS = {mode == 'inprocess'}\n"
        sitedir = self.paths["SITEDIR"]
        if mode == "inprocess":
            code = (
                head
                + BEFORE
                + "from hermetic import hermetic_blocker as _hb\n"
                + f"with _hb(**{policy!r}):\n"
                + textwrap.indent(textwrap.dedent(CASES), "    ")
            )
            argv = [sys.executable, "-c", code]
            env["PYTHONPATH"] = sitedir
        else:
            cache = self.root / "cache"
            bootstrap = materialize(BlockConfig(**policy), root=str(cache))
            argv = [self.bare_python, "-c", head + textwrap.dedent(CASES)]
            env["PYTHONPATH"] = f"{bootstrap}{os.pathsep}{sitedir}"
        proc = subprocess.run(
            argv, env=env, cwd=str(self.root), capture_output=True, text=True, timeout=120
        )
        return GuardedRun.of(proc)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory, bare_python: str) -> Catalogue:
    return Catalogue(tmp_path_factory.mktemp("interpreter-catalogue"), bare_python)


def effect(run: GuardedRun, label: str) -> Any:
    record = run.outcomes.get(label + ":effect") or run.outcomes.get(label)
    assert record is not None and record[1] == "value", (label, run.stdout, run.stderr[-2000:])
    return record[2]


def status(run: GuardedRun, label: str) -> list[Any]:
    assert label in run.outcomes, (label, run.stdout, run.stderr[-3000:])
    return run.outcomes[label]


IMPORTED = {"imported": True, "marks": ["probe_mod"]}
NOT_IMPORTED = {"imported": False, "marks": []}
BOTH = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
INPROCESS = pytest.mark.parametrize("mode", ["inprocess"])


def blocked_both_ways(
    catalogue: Catalogue, mode: str, label: str, done: Any, undone: Any, refused: bool = True
) -> GuardedRun:
    """``label`` does ``done`` without the guard; under it (sealed too) ``undone``."""
    free = catalogue(mode, "free")
    assert status(free, label)[1] == "ok", (label, free.stderr[-2000:])
    assert effect(free, label) == done, label
    for policy in ("guarded", "sealed"):
        run = catalogue(mode, policy)
        assert effect(run, label) == undone, (label, policy, run.stdout)
        if refused:
            assert status(run, label)[1:3] == ["blocked", GUARD], (label, policy, run.outcomes)
    return catalogue(mode, "guarded")


@INPROCESS
@pytest.mark.bypass(
    GUARD, "bound method of sys.path captured before the guard", verdict="blocked", layer="patch"
)
def test_captured_bound_method(catalogue: Catalogue, mode: str) -> None:
    # The method still changes the list the guard replaced, which nothing reads any more.
    blocked_both_ways(catalogue, mode, "captured_bound_method", IMPORTED, NOT_IMPORTED, False)


@INPROCESS
@pytest.mark.bypass(GUARD, "os.chdir captured before the guard", verdict="blocked", layer="audit")
def test_captured_chdir(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "captured_chdir", True, False)


@INPROCESS
@pytest.mark.bypass(
    GUARD, "sys.settrace captured before the guard", verdict="blocked", layer="audit"
)
def test_captured_settrace(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "captured_settrace", True, False)


@BOTH
@pytest.mark.bypass(GUARD, "posix.chdir (the C-level module)", verdict="blocked", layer="audit")
def test_c_level_chdir(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "c_level_chdir", True, False)


@BOTH
@pytest.mark.bypass(
    GUARD, "list.insert(sys.path, ...): the C type's method", verdict="blocked", layer="audit"
)
def test_unbound_list_method(catalogue: Catalogue, mode: str) -> None:
    run = blocked_both_ways(catalogue, mode, "unbound_list_method", IMPORTED, NOT_IMPORTED)
    assert "changed without its methods" in status(run, "unbound_list_method")[4]


@BOTH
@pytest.mark.bypass(GUARD, "sys.path = [...] then import", verdict="blocked", layer="audit")
def test_replace_sys_path(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "replace_sys_path", IMPORTED, NOT_IMPORTED)


@BOTH
@pytest.mark.bypass(
    GUARD,
    "sys.path = [...] then importlib.import_module (no import event)",
    verdict="blocked",
    layer="audit",
)
def test_replace_then_import_module(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "replace_then_import_module", IMPORTED, NOT_IMPORTED)


@BOTH
@pytest.mark.bypass(
    GUARD,
    "the original sys.path found by gc.get_objects() put back",
    verdict="blocked",
    layer="audit",
)
def test_original_found_by_gc(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "original_found_by_gc", IMPORTED, NOT_IMPORTED)


@BOTH
@pytest.mark.bypass(
    GUARD, "a new thread started inside the blocker", verdict="blocked", layer="patch+audit"
)
def test_new_thread(catalogue: Catalogue, mode: str) -> None:
    free = catalogue(mode, "free")
    assert effect(free, "thread") == {"path": True, "moved": True, "traced": True}
    for policy in ("guarded", "sealed"):
        run = catalogue(mode, policy)
        assert effect(run, "thread") == {"path": False, "moved": False, "traced": False}
        for label in ("thread.sys_path", "thread.chdir", "thread.settrace"):
            assert status(run, label)[1:3] == ["blocked", GUARD], (label, run.outcomes)


PTH_RAN = {"ran": True, "extra": True}
PTH_REFUSED = {"ran": False, "extra": False}


@BOTH
@pytest.mark.bypass(
    GUARD, "importlib.reload(site), then site.addsitedir", verdict="blocked", layer="audit"
)
def test_reload_site(catalogue: Catalogue, mode: str) -> None:
    # site.addpackage reports an error in a .pth line and carries on: the refusal is printed,
    # not raised, and the line did not run.
    run = blocked_both_ways(catalogue, mode, "reload_site", PTH_RAN, PTH_REFUSED, refused=False)
    assert "interpreter state is frozen: run the .pth line" in run.stderr


@BOTH
@pytest.mark.bypass(
    GUARD, "a fresh site module through sys.modules", verdict="blocked", layer="audit"
)
def test_fresh_site(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "fresh_site_in_sys_modules", PTH_RAN, PTH_REFUSED, False)


@BOTH
@pytest.mark.bypass(
    GUARD, "a fresh threading module through sys.modules", verdict="blocked", layer="patch+audit"
)
def test_fresh_threading(catalogue: Catalogue, mode: str) -> None:
    # Its settrace is unpatched, but the new thread's sys.settrace is refused.
    blocked_both_ways(catalogue, mode, "fresh_threading_in_sys_modules", True, False, False)


@BOTH
@pytest.mark.bypass(
    GUARD, "ctypes.pythonapi.PyList_Append on sys.path", verdict="blocked", layer="audit"
)
def test_ctypes_pylist_append(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "ctypes_pylist_append", IMPORTED, NOT_IMPORTED)


@BOTH
@pytest.mark.bypass(
    GUARD, "ctypes.pythonapi.PySys_SetObject('path', ...)", verdict="blocked", layer="audit"
)
def test_ctypes_pysys_setobject(catalogue: Catalogue, mode: str) -> None:
    blocked_both_ways(catalogue, mode, "ctypes_pysys_setobject", IMPORTED, NOT_IMPORTED)


def still_escapes(catalogue: Catalogue, mode: str, label: str, done: Any) -> None:
    """A residual: ``label`` does ``done`` with or without the guard."""
    for policy in ("free", "guarded", "sealed"):
        run = catalogue(mode, policy)
        assert status(run, label)[1] == "ok", (label, policy, run.outcomes.get(label))
        assert effect(run, label) == done, (label, policy)


@BOTH
@pytest.mark.bypass(GUARD, "ctypes calling libc chdir()", verdict="residual", layer="none")
def test_ctypes_libc_chdir(catalogue: Catalogue, mode: str) -> None:
    still_escapes(catalogue, mode, "ctypes_libc_chdir", True)


@BOTH
@pytest.mark.bypass(
    GUARD, "a finder put into sys.path_importer_cache", verdict="residual", layer="none"
)
def test_path_importer_cache_entry(catalogue: Catalogue, mode: str) -> None:
    still_escapes(catalogue, mode, "path_importer_cache_entry", IMPORTED)


@BOTH
@pytest.mark.bypass(GUARD, "builtins.__import__ replaced", verdict="residual", layer="none")
def test_builtins_import_replaced(catalogue: Catalogue, mode: str) -> None:
    still_escapes(catalogue, mode, "builtins_import_replaced", {"imported": True})


@BOTH
@pytest.mark.bypass(GUARD, "a module put into sys.modules", verdict="residual", layer="none")
def test_sys_modules_entry(catalogue: Catalogue, mode: str) -> None:
    still_escapes(catalogue, mode, "sys_modules_entry", {"imported": True})


@BOTH
@pytest.mark.bypass(
    GUARD,
    "multiprocessing.spawn.prepare() called by the program as if it were a child",
    verdict="residual",
    layer="none",
)
def test_multiprocessing_prepare_called(catalogue: Catalogue, mode: str) -> None:
    still_escapes(catalogue, mode, "multiprocessing_prepare_called", IMPORTED)


@BOTH
@pytest.mark.bypass(
    GUARD,
    "reading sys.path between a C-level change and the next import",
    verdict="residual",
    layer="none",
)
def test_reads_before_the_next_import(catalogue: Catalogue, mode: str) -> None:
    for policy in ("free", "guarded", "sealed"):
        assert effect(catalogue(mode, policy), "listed") is True, policy


@BOTH
@pytest.mark.bypass(
    GUARD, "every patch removed by hand (also sealed)", verdict="blocked", layer="audit"
)
def test_patches_removed_by_hand(catalogue: Catalogue, mode: str) -> None:
    free = catalogue(mode, "free")
    labels = ("removed.settrace", "removed.threading", "removed.list_method", "removed.chdir")
    assert [status(free, label)[1] for label in labels] == ["ok"] * 4
    assert effect(free, "removed.traced") is True
    assert effect(free, "removed.list_method") == IMPORTED
    assert effect(free, "removed.addsitedir") == PTH_RAN
    assert effect(free, "removed.chdir") is True
    for policy in ("guarded", "sealed"):
        run = catalogue(mode, policy)
        for label in ("removed.settrace", "removed.list_method", "removed.chdir"):
            assert status(run, label)[1:3] == ["blocked", GUARD], (label, policy, run.outcomes)
        # threading.settrace itself passes once unpatched; the new thread's tracer is refused
        assert effect(run, "removed.traced") is False, policy
        assert effect(run, "removed.list_method") == NOT_IMPORTED, policy
        assert effect(run, "removed.addsitedir") == PTH_REFUSED, policy
        assert effect(run, "removed.chdir") is False, policy
