"""Installing and removing the guard in this process: what is put back, and what is reported.

Leaving the blocker puts back the very list objects that were there before, with the
contents the guard let them have, and the original functions; a change the guard could only
notice late (a list replaced with no import since, the original list changed through a
reference kept from before) is undone and reported to violation observers (the pytest
plugin's reports). Another guard may add an import hook of its own while this one is
installed: hermetic installing guards is not the program.
"""

from __future__ import annotations

import importlib
import os
import site
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from hermetic import PolicyViolation, hermetic_blocker
from hermetic._runtime import RUNTIME
from hermetic.registry import EntryPoint, registry
from hermetic_testsupport.fakeguards import fake_registry
from hermetic_testsupport.runs import GuardedRun

from .conftest import POLICY

LISTS = ("path", "meta_path", "path_hooks")


@pytest.fixture
def observed() -> Iterator[list[PolicyViolation]]:
    """Every violation made while the test runs, raised or not."""
    seen: list[PolicyViolation] = []
    RUNTIME.observe(seen.append)
    try:
        yield seen
    finally:
        RUNTIME.unobserve(seen.append)


def state() -> dict[str, object]:
    return {
        **{attr: (getattr(sys, attr), list(getattr(sys, attr))) for attr in LISTS},
        "settrace": sys.settrace,
        "setprofile": sys.setprofile,
        "threading.settrace": threading.settrace,
        "addsitedir": site.addsitedir,
        "main": site.main,
    }


def same(a: dict[str, object], b: dict[str, object]) -> bool:
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, tuple) and isinstance(y, tuple):
            if x[0] is not y[0] or x[1] != y[1]:
                return False
        elif x is not y:
            return False
    return True


def test_leaving_puts_back_the_originals() -> None:
    before = state()
    events = set(RUNTIME.subscribed_events())
    with hermetic_blocker(**POLICY):
        inside = state()
        assert all(type(getattr(sys, a)).__name__ == "GuardedList" for a in LISTS)
        assert all(inside[a][1] == before[a][1] for a in LISTS)  # type: ignore[index]
        assert sys.settrace is not before["settrace"]
        with pytest.raises(PolicyViolation):
            sys.path.append("/nowhere")
    assert same(before, state())
    assert set(RUNTIME.subscribed_events()) == events


def test_nested_policies_keep_the_lists_frozen_until_the_last_one_leaves() -> None:
    original = sys.path
    with hermetic_blocker(**POLICY):
        frozen = sys.path
        with hermetic_blocker(block_network=True), pytest.raises(PolicyViolation):
            sys.path.append("/nowhere")
        assert sys.path is frozen
        with hermetic_blocker(**POLICY, trace=True):
            assert sys.path is frozen  # same options: the same layer
        with pytest.raises(PolicyViolation):
            sys.meta_path.clear()
    assert sys.path is original
    sys.path.append("/nowhere")  # an ordinary list again
    sys.path.remove("/nowhere")


def test_late_changes_are_undone_and_reported(
    observed: list[PolicyViolation], tmp_path: Path
) -> None:
    original = sys.path
    kept_append = sys.path.append  # a reference from before the guard
    contents = list(sys.path)
    (tmp_path / "late_probe.py").write_text("VALUE = 1\n")
    with hermetic_blocker(**POLICY):
        kept_append(str(tmp_path))  # changes the list the guard replaced, which is unused
        with pytest.raises(ImportError):
            importlib.import_module("late_probe")
        sys.path = [*sys.path, "/elsewhere"]  # and no import before leaving
    assert sys.path is original
    assert sys.path == contents
    assert "late_probe" not in sys.modules
    reported = [str(v) for v in observed if v.guard == "interpreter"]
    assert any("sys.path replaced by" in r and "adds '/elsewhere'" in r for r in reported), reported


def test_a_list_changed_without_its_methods_is_undone_at_the_next_import(
    observed: list[PolicyViolation],
) -> None:
    contents = list(sys.meta_path)
    with hermetic_blocker(**POLICY):
        list.append(sys.meta_path, object())  # type: ignore[misc]
        sys.modules.pop("colorsys", None)
        with pytest.raises(PolicyViolation, match="changed without its methods"):
            import colorsys
        assert list(sys.meta_path) == contents
        import colorsys  # noqa: F401  (the next import is fine)
    assert list(sys.meta_path) == contents


HOOK_GUARD = """
from hermetic.contract import Option, define_guard

guard = define_guard(
    "hooker",
    summary="Adds an import hook of its own (as an imports guard may).",
    patch_module="hermetic_hookguard_patch",
    options=[Option("block_hooker", bool, enables=True)],
)
"""

HOOK_PATCH = """
import sys

class HookerFinder:
    def find_spec(self, name, path=None, target=None):
        return None

def install(options, runtime):
    finder = HookerFinder()
    sys.meta_path.insert(0, finder)
    runtime.hooker_finder = finder

def uninstall(runtime):
    sys.meta_path.remove(runtime.hooker_finder)
"""


@pytest.fixture
def hook_guard(tmp_path: Path) -> Iterator[None]:
    (tmp_path / "hermetic_hookguard.py").write_text(textwrap.dedent(HOOK_GUARD))
    (tmp_path / "hermetic_hookguard_patch.py").write_text(textwrap.dedent(HOOK_PATCH))
    sys.path.insert(0, str(tmp_path))
    interpreter = EntryPoint(
        "interpreter", "hermetic_imports:interpreter_guard", "hermetic-imports", "/nonexistent"
    )
    hooker = EntryPoint("hooker", "hermetic_hookguard:guard", "hermetic-hookguard", "/nonexistent")
    try:
        with fake_registry(interpreter, hooker) as reg:
            assert not reg.failures, reg.failures
            yield
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("hermetic_hookguard", "hermetic_hookguard_patch"):
            sys.modules.pop(name, None)


@pytest.mark.usefixtures("hook_guard")
def test_another_guard_may_add_its_import_hook_meanwhile() -> None:
    def hookers() -> int:
        return sum(type(f).__name__ == "HookerFinder" for f in sys.meta_path)

    with hermetic_blocker(**POLICY):
        with hermetic_blocker(block_hooker=True):
            assert hookers() == 1
            import colorsys  # noqa: F401  (the guard's own snapshot knows the hook)

            with pytest.raises(PolicyViolation):
                sys.meta_path.pop(0)
        assert hookers() == 0
    assert hookers() == 0
    with hermetic_blocker(block_hooker=True), hermetic_blocker(**POLICY):
        assert hookers() == 1
    assert hookers() == 0
    assert registry().guards.keys() == {"interpreter", "hooker"}


def test_chdir_back_to_where_one_is_passes(tmp_path: Path) -> None:
    here = os.getcwd()
    with hermetic_blocker(**POLICY):
        os.chdir(here)
        with pytest.raises(PolicyViolation) as refused:
            os.chdir(tmp_path)
    assert os.getcwd() == here
    assert refused.value.target == os.path.realpath(tmp_path) or refused.value.target == str(
        tmp_path
    )


def test_tracing_set_up_before_the_guard_follows_new_threads() -> None:
    """What coverage.py does: a threading hook that installs the real tracer in each thread."""
    seen: list[str] = []

    def real_tracer(frame: object, event: str, arg: object) -> None:
        seen.append(getattr(getattr(frame, "f_code", None), "co_name", "?"))

    def installer(frame: object, event: str, arg: object) -> None:
        sys.settrace(None)
        sys.settrace(real_tracer)
        real_tracer(frame, event, arg)

    def work() -> int:
        return 1

    threading.settrace(installer)
    try:
        with hermetic_blocker(**POLICY):
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
            with pytest.raises(PolicyViolation):
                threading.settrace(real_tracer)  # a new hook is still refused
    finally:
        threading.settrace(None)  # type: ignore[arg-type,unused-ignore]
    assert "work" in seen


def test_a_profiler_started_before_the_guard_can_be_stopped_under_it() -> None:
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        with hermetic_blocker(**POLICY):
            sum(range(3))
            profiler.disable()  # switching off: refused by nothing
            with pytest.raises(PolicyViolation):
                cProfile.Profile().enable()
    finally:
        profiler.disable()
    assert profiler.getstats()


def test_it_installs_after_the_code_exec_guard(guarded: Callable[..., GuardedRun]) -> None:
    # In a fresh process the guards' modules are imported as they are installed: this one
    # after the code-exec guard, which refuses a compile() made while a module is imported.
    body = "import json\nattempt('import', lambda: __import__('colorsys'))\n"
    policy = {"block_code_exec": True, "block_interpreter_mutation": True}
    run = guarded("inprocess", policy, body)
    assert run.returncode == 0 and run.status("import") == "ok", run.stdout + run.stderr
