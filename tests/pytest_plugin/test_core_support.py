"""The two core hooks the pytest plugin relies on: parked layers and violation observers.

``Runtime.suspend``/``resume`` and ``Activation.keep_installed`` make entering and leaving
the same policy for every test cheap; ``Runtime.observe`` lets the plugin report violations
the code under test swallowed. Both are opt-in: without them nothing changes.
"""

from __future__ import annotations

import colorsys
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hermetic import PolicyViolation, hermetic_blocker
from hermetic._activation import ACTIVATION
from hermetic._runtime import RUNTIME, GuardRuntime, Runtime
from hermetic.guards import installed
from hermetic_testsupport import fakeguard_patch
from hermetic_testsupport.fakeguards import fake_registry

from .conftest import DEMO_GUARD_SRC, write_guard_site


@pytest.fixture
def fakes() -> Iterator[None]:
    with fake_registry():
        yield


@pytest.fixture
def kept(extra_guards: list[str]) -> Iterator[None]:
    ACTIVATION.keep_installed(True)
    try:
        yield
    finally:
        ACTIVATION.keep_installed(False)


def alpha_blocked(value: float = 0.5) -> bool:
    try:
        colorsys.rgb_to_hsv(value, 0, 0)
    except PolicyViolation as exc:
        assert exc.guard == "alpha"
        return True
    return False


def suspended(runtime: Runtime) -> bool:
    return runtime.suspended


def audit_blocked() -> bool:
    try:
        fakeguard_patch.audit("alpha", "from C")
    except PolicyViolation:
        return True
    return False


# -- Runtime.suspend / resume ----------------------------------------------------------------


def test_suspend_lets_patches_and_audit_handlers_pass_through() -> None:
    runtime = Runtime()
    handle = GuardRuntime(runtime, "alpha")
    fakeguard_patch.install({}, handle)
    try:
        assert alpha_blocked() and audit_blocked()
        assert runtime.suspend() is True
        assert suspended(runtime)
        assert not alpha_blocked() and not audit_blocked()
        runtime.resume()
        assert not suspended(runtime)
        assert alpha_blocked() and audit_blocked()
    finally:
        runtime.resume()
        fakeguard_patch.uninstall(handle)
        handle.undo()
    assert not alpha_blocked()


def test_a_patch_made_while_suspended_sleeps_until_resume() -> None:
    runtime = Runtime()
    runtime.suspend()
    handle = GuardRuntime(runtime, "alpha")
    fakeguard_patch.install({}, handle)
    try:
        assert not alpha_blocked()
        runtime.resume()
        assert alpha_blocked()
    finally:
        fakeguard_patch.uninstall(handle)
        handle.undo()


def test_a_sealed_runtime_cannot_be_suspended_and_sealing_wakes_it() -> None:
    # A private Runtime: sealing it leaves the process's own runtime untouched.
    runtime = Runtime()
    handle = GuardRuntime(runtime, "alpha")
    fakeguard_patch.install({}, handle)
    try:
        runtime.suspend()
        assert not alpha_blocked()
        runtime.seal()
        assert not suspended(runtime)
        assert alpha_blocked()
        assert runtime.suspend() is False
        assert alpha_blocked()
    finally:
        runtime._sealed = False  # only to clean up this private runtime's patches
        fakeguard_patch.uninstall(handle)
        handle.undo()


class Holder:
    """Keeps a builtin on a class, as Python 3.9's pathlib keeps os.open: it is not bound."""

    measure: Any = len


def test_passing_through_a_builtin_kept_on_a_class_leaves_the_instance_out() -> None:
    runtime = Runtime()
    handle = GuardRuntime(runtime, "g")
    handle.wrap(Holder, "measure", lambda original, _self, value: original(value) + 100)
    handle.check_before(Holder, "measure", lambda *args: None)
    try:
        assert Holder().measure([1, 2]) == 102
        runtime.suspend()
        assert Holder().measure([1, 2]) == 2
    finally:
        runtime.resume()
        handle.undo()
    assert vars(Holder)["measure"] is len


# -- Runtime.observe -------------------------------------------------------------------------


def test_observers_see_every_violation_even_a_swallowed_one() -> None:
    runtime = Runtime()
    handle = GuardRuntime(runtime, "alpha")
    seen: list[PolicyViolation] = []

    def broken(_exc: PolicyViolation) -> None:
        raise ValueError("an observer's bug must not mask the violation")

    runtime.observe(seen.append)
    runtime.observe(broken)
    fakeguard_patch.install({}, handle)
    try:
        try:
            colorsys.rgb_to_hsv(0.5, 0, 0)
        except Exception:
            pass  # the code under test swallows it
        with pytest.raises(PolicyViolation) as info:
            fakeguard_patch.audit("alpha", "x")
        assert [v.guard for v in seen] == ["alpha", "alpha"]
        assert seen[1] is info.value
        runtime.unobserve(seen.append)
        runtime.unobserve(broken)
        with pytest.raises(PolicyViolation):
            colorsys.rgb_to_hsv(0.5, 0, 0)
        assert len(seen) == 2
    finally:
        fakeguard_patch.uninstall(handle)
        handle.undo()


def test_the_process_runtime_has_no_observer_by_default() -> None:
    assert RUNTIME._observers == ()


# -- Activation.keep_installed ---------------------------------------------------------------
# The ``colors`` guard (conftest.py) does everything through its runtime handle, so it can be
# parked; the fake ``alpha`` guard has an uninstall hook of its own, so it cannot.


def colors_installs() -> list[dict[str, Any]]:
    import importlib

    patch = importlib.import_module("pt_colors_guard._patch")  # while extra_guards is active
    installs: list[dict[str, Any]] = patch.INSTALLS
    return installs


def converts(value: float = 0.5) -> bool:
    try:
        colorsys.rgb_to_hsv(value, value, value)
    except PolicyViolation as exc:
        assert exc.guard == "colors"
        return False
    return True


COLORS = {
    "block_colors": True,
    "allow_colors": (),
    "colors_lenient": False,
    "colors_label": None,
    "colors_scope": False,
}


def test_without_keep_installed_leaving_removes_everything(extra_guards: list[str]) -> None:
    before = dict(vars(colorsys))
    with hermetic_blocker(block_colors=True):
        assert not converts()
    assert dict(vars(colorsys)) == before
    assert not RUNTIME.suspended


def test_kept_layers_are_parked_and_resumed_not_reinstalled(kept: None) -> None:
    blocker = hermetic_blocker(block_colors=True)
    for _ in range(5):
        with blocker:
            assert not converts()
            assert installed() == {"colors": COLORS}
        # Parked: inert, and reported as nothing installed.
        assert converts()
        assert installed() == {}
        assert RUNTIME.suspended
    assert len(colors_installs()) == 1
    # An equal policy built separately resumes the same layer too.
    with hermetic_blocker(block_colors=True):
        assert not converts()
    assert len(colors_installs()) == 1


def test_parking_leaves_no_trace_on_and_survives_a_new_registry(kept: None) -> None:
    from hermetic.registry import refresh

    def tracing() -> bool:
        return RUNTIME.trace

    blocker = hermetic_blocker(block_colors=True, trace=True)
    with blocker:
        assert tracing()
    assert not tracing()
    refresh()  # guards discovered again: the parked layers belong to the old objects
    with blocker:
        assert not converts()
        assert tracing()
    assert converts()


def test_a_different_policy_replaces_the_parked_layers(kept: None) -> None:
    before = len(colors_installs())
    with hermetic_blocker(block_colors=True):
        pass
    with hermetic_blocker(block_colors=True, allow_colors=["0.5"]):
        assert converts(0.5)
        assert not converts(0.25)
    assert [i["allow_colors"] for i in colors_installs()[before:]] == [(), ("0.5",)]
    with hermetic_blocker(block_webbrowser=True):
        assert converts(0.25)
        assert set(installed()) == {"webbrowser"}


def test_parked_layers_that_are_still_wanted_are_kept(kept: None) -> None:
    import webbrowser

    before = len(colors_installs())
    with hermetic_blocker(block_colors=True):
        pass
    with hermetic_blocker(block_colors=True, block_webbrowser=True):
        assert not converts()
        with pytest.raises(PolicyViolation):
            webbrowser.open("https://example.com")
    assert len(colors_installs()) == before + 1  # resumed, not installed again


def test_nested_policies_while_kept_still_stack_and_unwind(kept: None) -> None:
    with hermetic_blocker(block_colors=True, allow_colors=["0.5", "0.25"]):
        assert converts(0.25)
        with hermetic_blocker(block_colors=True, allow_colors=["0.5"]):
            assert not converts(0.25)
        assert converts(0.25)
        assert not converts(0.75)
    assert converts(0.75)


def test_opting_out_removes_parked_layers_exactly(extra_guards: list[str]) -> None:
    before = dict(vars(colorsys))
    ACTIVATION.keep_installed(True)
    ACTIVATION.keep_installed(True)  # keepers nest
    try:
        with hermetic_blocker(block_colors=True):
            pass
        ACTIVATION.keep_installed(False)
        assert dict(vars(colorsys)) != before  # still parked: one keeper is left
    finally:
        ACTIVATION.keep_installed(False)
    assert dict(vars(colorsys)) == before
    assert not RUNTIME.suspended


def test_a_guard_with_its_own_uninstall_hook_is_never_parked(fakes: None) -> None:
    before = dict(vars(colorsys))
    fakeguard_patch.INSTALLS.clear()
    ACTIVATION.keep_installed(True)
    try:
        for _ in range(3):
            with hermetic_blocker(block_alpha=True):
                assert alpha_blocked() and audit_blocked()
                assert len(fakeguard_patch.INSTALLS) == 1
            assert dict(vars(colorsys)) == before
            assert fakeguard_patch.INSTALLS == []  # its uninstall hook ran
            assert not RUNTIME.suspended
    finally:
        ACTIVATION.keep_installed(False)


def test_sealing_a_parked_policy_resumes_and_freezes_it(tmp_path: Path) -> None:
    site = write_guard_site(tmp_path / "site")
    script = textwrap.dedent(
        """
        import colorsys
        from hermetic import PolicyViolation, hermetic_blocker
        from hermetic._activation import ACTIVATION
        from hermetic._runtime import RUNTIME

        def blocked():
            try:
                colorsys.rgb_to_hsv(0.5, 0.5, 0.5)
            except PolicyViolation:
                return True
            return False

        ACTIVATION.keep_installed(True)
        with hermetic_blocker(block_colors=True):
            pass
        assert RUNTIME.suspended and not blocked()
        with hermetic_blocker(block_colors=True, sealed=True):
            assert RUNTIME.sealed and not RUNTIME.suspended
        ACTIVATION.keep_installed(False)
        assert blocked(), "a sealed policy must stay"
        import pt_colors_guard._patch as patch
        assert len(patch.INSTALLS) == 1, patch.INSTALLS
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": f"{site}{os.pathsep}{DEMO_GUARD_SRC}", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
