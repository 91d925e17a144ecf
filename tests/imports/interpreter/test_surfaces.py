"""The working directory, tracing and ``.pth`` processing: every surface, both ways.

Without the guard each case really happens (the working directory moves, a trace or
profile function or a ``sys.monitoring`` callback is called, a ``.pth`` file's import
line runs and its path line lands on ``sys.path``); under ``block_interpreter_mutation``
each one is refused by the interpreter guard and none of that happens. Both delivery
modes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

from .conftest import Both, dump, outcome, value

BODY = """
import cProfile  # and enabled before any other import: see test_a_fresh_cprofile
FRESH = cProfile.Profile()
try:
    FRESH.enable()
    traced = lambda: 1
    traced()
    FRESH.disable()
    FRESH_OUTCOME = ["ok"]
except BaseException as e:
    FRESH_OUTCOME = [type(e).__name__, type(e.__cause__ or e.__context__).__name__]
FRESH_OUTCOME.append(len(FRESH.getstats()) > 0)
import os, sys, threading, site, pathlib, contextlib, importlib
report("cProfile.fresh", FRESH_OUTCOME)
report("cProfile.tool", sys.monitoring.get_tool(2) if hasattr(sys, "monitoring") else None)
HERE = os.getcwd()

MOVED = set()
def cwd_case(label, fn):
    attempt(label, fn)
    report(label + ":effect", os.getcwd() != HERE or label in MOVED)
    os.chdir(HERE)  # back (staying where one is is allowed)

cwd_case("chdir.str", lambda: os.chdir(PROBE))
cwd_case("chdir.bytes", lambda: os.chdir(os.fsencode(PROBE)))
cwd_case("chdir.pathlib", lambda: os.chdir(pathlib.Path(PROBE)))
def fchdir():
    fd = os.open(PROBE, os.O_RDONLY)
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)
cwd_case("fchdir", fchdir)
def context_chdir():
    with contextlib.chdir(PROBE):
        if os.getcwd() != HERE:
            MOVED.add("contextlib.chdir")
if hasattr(contextlib, "chdir"):
    cwd_case("contextlib.chdir", context_chdir)

calls = []
def tracer(frame, event, arg):
    calls.append(event)
def traced():
    return 1

def trace_case(label, start, stop):
    calls.clear()
    def run():
        start()
        traced()
    attempt(label, run)
    stop()
    report(label + ":effect", bool(calls))

trace_case("sys.settrace", lambda: sys.settrace(tracer), lambda: sys.settrace(None))
trace_case("sys.setprofile", lambda: sys.setprofile(tracer), lambda: sys.setprofile(None))
def in_thread():
    t = threading.Thread(target=traced)
    t.start()
    t.join()
trace_case("threading.settrace", lambda: (threading.settrace(tracer), in_thread()),
           lambda: threading.settrace(None))
trace_case("threading.setprofile", lambda: (threading.setprofile(tracer), in_thread()),
           lambda: threading.setprofile(None))
if hasattr(threading, "settrace_all_threads"):
    trace_case("threading.settrace_all_threads", lambda: threading.settrace_all_threads(tracer),
               lambda: threading.settrace_all_threads(None))
    trace_case("threading.setprofile_all_threads",
               lambda: threading.setprofile_all_threads(tracer),
               lambda: threading.setprofile_all_threads(None))
def profiler():
    p = cProfile.Profile()
    p.enable()
    try:
        traced()
    finally:
        p.disable()
    import pstats, io
    calls.extend(pstats.Stats(p, stream=io.StringIO()).stats)
trace_case("cProfile", profiler, lambda: None)
def pure_profiler():
    import profile
    p = profile.Profile()
    p.runcall(traced)
    p.create_stats()
    calls.extend(p.stats)
trace_case("profile", pure_profiler, lambda: sys.setprofile(None))
def line_tracer():
    import trace
    t = trace.Trace(count=0, trace=0, countfuncs=1)
    t.runfunc(traced)
    calls.extend(t.results().calledfuncs)
trace_case("trace", line_tracer, lambda: sys.settrace(None))
def debugger():
    import io, pdb
    out = io.StringIO()
    pdb.Pdb(stdin=io.StringIO("continue\\n"), stdout=out, nosigint=True).set_trace()
    traced()
    if "(Pdb)" in out.getvalue():
        calls.append("stopped")
trace_case("pdb", debugger, lambda: sys.settrace(None))
if hasattr(sys, "monitoring"):
    M = sys.monitoring
    M.use_tool_id(3, "probe")
    def monitor():
        M.register_callback(3, M.events.PY_START, lambda code, offset: calls.append(code))
        M.set_events(3, M.events.PY_START)
    def unmonitor():
        M.set_events(3, 0)
        M.register_callback(3, M.events.PY_START, None)
    trace_case("sys.monitoring", monitor, unmonitor)

def site_case(label, fn):
    before = list(sys.path)
    attempt(label, fn)
    report(label + ":effect", {"ran": os.path.exists(PTH_MARK), "path": EXTRA in sys.path})
    sys.path[:] = before
    if os.path.exists(PTH_MARK):
        os.remove(PTH_MARK)

site_case("site.addsitedir", lambda: site.addsitedir(SITEDIR))
site_case("site.addpackage", lambda: site.addpackage(SITEDIR, "probe.pth", set()))
attempt("site.addsitepackages", lambda: site.addsitepackages(set()))
attempt("site.addusersitepackages", lambda: site.addusersitepackages(set()))
"""

PTH = """\
import os; open({mark!r}, "a").write("ran\\n")
{extra}
"""


@pytest.fixture
def sitedir(tmp_path: Path) -> str:
    """A site directory whose ``probe.pth`` runs an import line and adds ``extra/``."""
    where = tmp_path / "sitedir"
    (where / "extra").mkdir(parents=True)
    mark = where / "pth-ran.txt"
    (where / "probe.pth").write_text(PTH.format(mark=str(mark), extra=where / "extra"))
    return f"SITEDIR = {str(where)!r}\nEXTRA = {str(where / 'extra')!r}\nPTH_MARK = {str(mark)!r}\n"


CWD = ["chdir.str", "chdir.bytes", "chdir.pathlib", "fchdir"] + (
    ["contextlib.chdir"] if sys.version_info >= (3, 11) else []
)
TRACING = ["sys.settrace", "sys.setprofile", "threading.settrace", "threading.setprofile"] + (
    ["threading.settrace_all_threads", "threading.setprofile_all_threads", "sys.monitoring"]
    if sys.version_info >= (3, 12)
    else []
)
PROFILERS = ["cProfile", "profile", "trace", "pdb"]
SITE = ["site.addsitedir", "site.addpackage"]


def test_chdir_tracing_and_pth_files_are_refused(
    both: Callable[..., Both], mode: str, sitedir: str, probe: Path
) -> None:
    runs = both(mode, sitedir + BODY)
    free, guarded = runs.free, runs.guarded
    for label in [*CWD, *TRACING, *PROFILERS, *SITE]:
        assert free.status(label) == "ok", (label, dump(free))
        record = outcome(guarded, label)
        assert record[1:3] == ["blocked", "interpreter"], (label, dump(guarded))
        assert record[4].startswith("interpreter state is frozen: "), record
    for label in CWD:
        assert value(free, label + ":effect") is True, label
        assert value(guarded, label + ":effect") is False, label
        assert outcome(guarded, label)[3] == str(probe), label
    for label in [*TRACING, *PROFILERS]:
        assert value(free, label + ":effect") is True, label
        assert value(guarded, label + ":effect") is False, label
    for label in SITE:
        assert value(free, label + ":effect") == {"ran": True, "path": True}, label
        assert value(guarded, label + ":effect") == {"ran": False, "path": False}, label
    targets = {label: outcome(guarded, label)[3] for label in TRACING}
    assert targets["sys.settrace"] == "sys.settrace"
    assert targets["threading.setprofile"] == "threading.setprofile"
    assert outcome(guarded, "site.addsitedir")[3].endswith("/sitedir")
    assert outcome(guarded, "site.addpackage")[3].endswith("/sitedir/probe.pth")
    for label in ("site.addsitepackages", "site.addusersitepackages"):
        assert free.status(label) == "ok", (label, dump(free))
        assert guarded.status(label) == "blocked", (label, dump(guarded))


def test_a_fresh_cprofile_is_refused_from_c(both: Callable[..., Both], mode: str) -> None:
    """``import cProfile`` then ``enable()`` with no import between: the C profiler asks.

    The patch of ``cProfile.Profile.enable`` comes with the guard's next check, so the
    first enable is refused by the audit layer inside C code: a ``PolicyViolation`` up to
    3.11; on 3.12 ``_lsprof`` reports it as an ``AttributeError``, on 3.13 as a
    ``SystemError`` caused by the violation. It never profiles, and the
    ``sys.monitoring`` tool it claimed is freed at the next check.
    """
    runs = both(mode, "import sys\n" + BODY.split("import os, sys, threading")[0] + _TAIL)
    assert value(runs.free, "cProfile.fresh") == ["ok", True]
    expected = {
        (3, 12): ["AttributeError", "NoneType"],
        (3, 13): ["SystemError", "PolicyViolation"],
    }
    got = value(runs.guarded, "cProfile.fresh")
    assert got == [*expected.get(sys.version_info[:2], ["PolicyViolation", "NoneType"]), False]
    assert value(runs.guarded, "cProfile.tool") is None


_TAIL = """
import colorsys  # the guard's next check
report("cProfile.fresh", FRESH_OUTCOME)
report("cProfile.tool", sys.monitoring.get_tool(2) if hasattr(sys, "monitoring") else None)
"""
