"""The pytest plugin at work: activating each test's policy and reporting violations.

Nothing here is registered with pytest unless the suite has a policy, a test carries a
hermetic marker, or a test uses the ``hermetic`` fixture (or, in an xdist controller, to
receive the workers' violations). The per-test path is kept short: the plan of every test
is computed at collection, the blocker of each distinct policy is built once, and the
guards' layers are parked between tests instead of being reinstalled
(``Activation.keep_installed``), so entering a test's policy costs a few microseconds.
"""

from __future__ import annotations

import pytest

from hermetic._activation import ACTIVATION
from hermetic._pytest_plan import Planner, Suite
from hermetic._runtime import RUNTIME
from hermetic.errors import PolicyViolation
from hermetic.pytest_plugin import PLAN, STATE, any_marked, xdist_controller
from hermetic.registry import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator
    from types import TracebackType
    from typing import Any

    # [guard, target, message, raised]: plain data, so xdist can ship it with a report.
    Record = list[Any]

#: The attribute a test report carries its violations in (a list of Record).
REPORT_ATTRIBUTE = "hermetic_violations"


def _chain(exc: BaseException | None) -> set[int]:
    """The ids of ``exc`` and every exception it was raised from or during."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return seen


class Recorder:
    """Sees every violation (swallowed ones too), attaches them to reports, sums them up."""

    def __init__(self, suite: Suite) -> None:
        """Report for ``suite``; call :meth:`observe` in a process that runs tests."""
        self.suite = suite
        # guard -> [(test node id, or "" outside tests; where; record)]
        self.by_guard: dict[str, list[tuple[str, str, Record]]] = {}
        self._current: list[PolicyViolation] = []
        self._raised: BaseException | None = None
        self._observing = False

    # -- observing ----------------------------------------------------------------------
    def _seen(self, violation: PolicyViolation) -> None:
        self._current.append(violation)

    def observe(self) -> None:
        """Start receiving violations from the runtime."""
        if not self._observing:
            RUNTIME.observe(self._seen)
            self._observing = True

    def close(self) -> None:
        """Stop receiving violations."""
        if self._observing:
            RUNTIME.unobserve(self._seen)
            self._observing = False

    def raised(self, exc: BaseException, fulltrace: bool) -> None:
        """Note the exception a guarded phase ended with; trim a violation's traceback."""
        if self._current:
            self._raised = exc
        if isinstance(exc, PolicyViolation) and not fulltrace:
            _trim_traceback(exc)

    def _take(self, report: pytest.TestReport | None) -> list[Record]:
        chain = _chain(self._raised)
        self._raised = None
        records = []
        for v in self._current:
            message = str(v)
            if chain:
                raised = id(v) in chain
            else:  # a phase no wrapper of ours saw end: the report's text tells
                raised = report is not None and report.failed and message in report.longreprtext
            records.append([v.guard or "?", v.target, message, raised])
        self._current = []
        return records

    # -- hooks --------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Attach the phase's violations (before xdist ships the report) and count them."""
        if self._current:
            setattr(report, REPORT_ATTRIBUTE, self._take(report))
        elif self._raised is not None:
            self._raised = None
        records = getattr(report, REPORT_ATTRIBUTE, None)
        if records:
            for record in records:
                self.by_guard.setdefault(record[0], []).append((report.nodeid, report.when, record))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Violations during collection (a sealed policy is active then) are listed too."""
        self._flush("collection")

    def _flush(self, where: str) -> None:
        if self._current:
            for record in self._take(None):
                self.by_guard.setdefault(record[0], []).append(("", where, record))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """List the violations, per guard."""
        self._flush("outside tests")
        if not self.by_guard:
            return
        tr = terminalreporter
        tr.write_sep("=", "hermetic violations", yellow=True)
        for guard in sorted(self.by_guard):
            rows = self.by_guard[guard]
            tests = {nodeid for nodeid, _where, _record in rows if nodeid}
            line = f"{guard}: {_count(len(rows), 'violation')} in {_count(len(tests), 'test')}"
            for where in dict.fromkeys(where for nodeid, where, _r in rows if not nodeid):
                line += f" and {where}" if where.startswith("outside") else f" and during {where}"
            tr.write_line(line)
            for nodeid, where, (_guard, _target, message, raised) in rows:
                if not nodeid:
                    label = f"({where})"
                else:
                    label = nodeid if where == "call" else f"{nodeid} ({where})"
                note = "" if raised else " [caught by the code under test]"
                tr.write_line(f"  {label}: {message}{note}")


def _trim_traceback(exc: BaseException) -> None:
    """Drop hermetic's own frames from the end of a violation's traceback.

    The test's report then ends at the call that was refused (``connect`` in the code
    under test), not inside the runtime and the guard that refused it. pytest builds its
    report from the raw ``tb_next`` chain, so the chain itself is cut (``--full-trace``
    keeps everything).
    """
    internal = {"hermetic._runtime"}
    internal.update(guard.patch_module for guard in registry().guards.values())
    chain: list[TracebackType] = []
    tb = exc.__traceback__
    while tb is not None:
        chain.append(tb)
        tb = tb.tb_next
    end = len(chain)
    while end > 1 and chain[end - 1].tb_frame.f_globals.get("__name__") in internal:
        end -= 1
    if end < len(chain):
        chain[end - 1].tb_next = None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _guarded(scope: CallScope, item: pytest.Item) -> Generator[None, Any, Any]:
    """Run one phase of ``item`` under its policy (one generator: this is the hot path)."""
    plan = item.stash.get(PLAN, None)
    blocker = None if plan is None else plan.blocker
    if blocker is not None:
        blocker.__enter__()
    try:
        return (yield)
    except BaseException as exc:
        scope.recorder.raised(exc, scope.fulltrace)
        raise
    finally:
        if blocker is not None:
            blocker.__exit__(None, None, None)


_PHASE = pytest.hookimpl(wrapper=True, trylast=True)


class CallScope:
    """Activates each test's policy around the test function (the default)."""

    def __init__(self, recorder: Recorder, fulltrace: bool) -> None:
        """Tell ``recorder`` how each guarded phase ends."""
        self.recorder = recorder
        self.fulltrace = fulltrace

    pytest_runtest_call = _PHASE(_guarded)


class TestScope(CallScope):
    """``--hermetic-scope=test``: also around the test's setup and teardown."""

    pytest_runtest_setup = _PHASE(_guarded)
    pytest_runtest_teardown = _PHASE(_guarded)


class Refusals:
    """Fails the setup of tests whose markers cannot be honoured."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Refuse a test with a bad marker or an opt-out under a sealed policy."""
        plan = item.stash.get(PLAN, None)
        if plan is not None and plan.error:
            pytest.fail(plan.error, pytrace=False)


class State:
    """The plugin's per-run state (in ``config.stash``): what is registered, what is kept."""

    def __init__(self, config: pytest.Config, suite: Suite) -> None:
        """Prepare for ``suite``; nothing is registered yet."""
        self.config = config
        self.suite = suite
        self.planner: Planner | None = None
        self.recorder: Recorder | None = None
        self.controller = xdist_controller(config)
        self._kept = False
        self._entries: list[Any] = []
        self._registered: list[object] = []

    def _register(self, plugin: object, name: str) -> None:
        self.config.pluginmanager.register(plugin, name)
        self._registered.append(plugin)

    def start(self) -> None:
        """Register what the configured suite needs; seal now if the policy is sealed."""
        suite = self.suite
        if suite.off:
            return
        if self.controller:
            # The controller runs no test; it only receives the workers' reports.
            self.ensure_recorder(observe=False)
            return
        if suite.sealed:
            assert suite.config is not None
            # Irreversible: the policy covers the rest of the process, collection included.
            self._entries.append(ACTIVATION.push(suite.config))
            self.ensure_recorder()
            return
        if suite.active:
            self._register_scope()

    def _register_scope(self) -> None:
        recorder = self.ensure_recorder()
        kind = TestScope if self.suite.scope == "test" else CallScope
        fulltrace = bool(self.config.getoption("fulltrace", False))
        self._register(kind(recorder, fulltrace), "hermetic-scope")

    def ensure_recorder(self, *, observe: bool = True) -> Recorder:
        """Register the recorder (once) and, in a process that runs tests, observe."""
        if self.recorder is None:
            self.recorder = Recorder(self.suite)
            self._register(self.recorder, "hermetic-recorder")
        if observe:
            self.recorder.observe()
            if not self._kept and not RUNTIME.sealed:
                ACTIVATION.keep_installed(True)
                self._kept = True
        return self.recorder

    def plan_items(self, items: list[pytest.Item]) -> None:
        """Compute each test's plan (at the end of collection)."""
        suite = self.suite
        if suite.off or self.controller:
            return
        if not suite.active and not suite.sealed and not any_marked(items):
            return
        if self.planner is None:
            self.planner = Planner(suite)
            if suite.sealed:
                self.ensure_recorder()
            elif self.config.pluginmanager.get_plugin("hermetic-scope") is None:
                self._register_scope()
        planner = self.planner
        refused = False
        for item in items:
            plan = planner.plan(item)
            if plan is not None:
                item.stash[PLAN] = plan
                refused = refused or plan.error is not None
        if refused and self.config.pluginmanager.get_plugin("hermetic-refusals") is None:
            self._register(Refusals(), "hermetic-refusals")

    def header(self) -> str | None:
        """The report header line: which policy the suite runs under (None: no policy)."""
        if self.suite.config is None and not self.suite.off:
            return None
        line = f"hermetic: {self.suite.describe()}"
        if self.suite.sealed and self.controller:
            line += "; sealed in each worker, not in the controller"
        return line

    def close(self) -> None:
        """Undo everything at the end of the run (a sealed policy stays: it is sealed)."""
        for entry in reversed(self._entries):
            ACTIVATION.pop(entry)
        self._entries = []
        if self.recorder is not None:
            self.recorder.close()
        if self._kept:
            ACTIVATION.keep_installed(False)
            self._kept = False
        for plugin in self._registered:
            if self.config.pluginmanager.is_registered(plugin):
                self.config.pluginmanager.unregister(plugin)
        self._registered = []


__all__ = [
    "REPORT_ATTRIBUTE",
    "STATE",
    "CallScope",
    "Recorder",
    "Refusals",
    "State",
    "TestScope",
]
