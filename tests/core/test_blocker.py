"""hermetic_blocker / with_hermetic: activation, stacking, restoring, decorating, sealing."""

from __future__ import annotations

import asyncio
import colorsys
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hermetic import BlockConfig, PolicyViolation, active_policy, hermetic_blocker, with_hermetic
from hermetic.errors import HermeticError, PolicyError
from hermetic.guards import install_all, installed, uninstall_all
from hermetic_testsupport import fakeguard_patch
from hermetic_testsupport.fakeguards import entry, fake_registry

TESTS = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def fakes() -> Iterator[None]:
    with fake_registry():
        yield


def alpha_blocked(value: float = 0.5) -> bool:
    try:
        colorsys.rgb_to_hsv(value, 0, 0)
    except PolicyViolation as exc:
        assert exc.guard == "alpha"
        return True
    return False


def test_enter_blocks_and_exit_restores_exactly() -> None:
    before = dict(vars(colorsys))
    with hermetic_blocker(block_alpha=True) as blocker:
        assert alpha_blocked()
        assert installed() == {
            "alpha": {
                "block_alpha": True,
                "alpha_strict": False,
                "allow_alpha": (),
                "alpha_root": None,
            }
        }
        assert blocker.config.block_alpha
    assert not alpha_blocked()
    assert dict(vars(colorsys)) == before
    assert installed() == {}


def test_exit_restores_when_the_body_raises() -> None:
    with pytest.raises(ZeroDivisionError), hermetic_blocker(block_alpha=True):
        _ = 1 / 0
    assert not alpha_blocked()


def test_nested_blockers_stack_and_unwind() -> None:
    with hermetic_blocker(block_alpha=True, allow_alpha=["0.5", "0.25"]):
        assert not alpha_blocked(0.25)
        outer = installed()["alpha"]
        with hermetic_blocker(block_alpha=True, allow_alpha=["0.5"], block_beta=True):
            assert alpha_blocked(0.25)  # the inner allow-list is narrower
            assert not alpha_blocked(0.5)
            with pytest.raises(PolicyViolation):
                colorsys.hsv_to_rgb(0.1, 0, 0)
        assert installed()["alpha"] == outer
        assert not alpha_blocked(0.25)
        assert colorsys.hsv_to_rgb(0, 0, 0) == (0, 0, 0)
    assert installed() == {}


def test_policy_changes_install_the_new_layer_before_removing_the_old() -> None:
    fakeguard_patch.INSTALLS.clear()
    with hermetic_blocker(block_alpha=True, allow_alpha=["1"]):
        assert len(fakeguard_patch.INSTALLS) == 1
        with hermetic_blocker(block_alpha=True):
            assert len(fakeguard_patch.INSTALLS) == 1
            assert fakeguard_patch.INSTALLS[0][1]["allow_alpha"] == ()
        assert fakeguard_patch.INSTALLS[0][1]["allow_alpha"] == ("1",)
    assert fakeguard_patch.INSTALLS == []


def test_same_blocker_entered_twice() -> None:
    blocker = hermetic_blocker(block_alpha=True)
    with blocker:
        with blocker:
            assert alpha_blocked()
        assert alpha_blocked()
    assert not alpha_blocked()


def test_entering_the_same_blocker_again_and_again_leaves_nothing_behind() -> None:
    # The second and later entries take the short paths (a known plan, spare patch layers).
    from hermetic._runtime import RUNTIME

    before = dict(vars(colorsys))
    blocker = hermetic_blocker(block_alpha=True, block_beta=True)
    for _ in range(3):
        with blocker:
            assert alpha_blocked()
            with pytest.raises(PolicyViolation):
                colorsys.hsv_to_rgb(0.5, 0, 0)
            with pytest.raises(PolicyViolation):
                fakeguard_patch.audit("beta", "from C")
            assert sorted(installed()) == ["alpha", "beta"]
        assert dict(vars(colorsys)) == before
        assert all(vars(colorsys)[name] is value for name, value in before.items())
        assert installed() == {} and active_policy() == BlockConfig()
        assert not {"hermetic.test.alpha", "hermetic.test.beta"} & set(RUNTIME.subscribed_events())
        fakeguard_patch.audit("beta", "from C")  # allowed again


def test_a_policy_without_guards_switches_trace_on_and_off() -> None:
    from hermetic._runtime import RUNTIME

    blocker = hermetic_blocker(trace=True)
    for _ in range(2):
        with blocker:
            assert RUNTIME.trace and installed() == {}
        assert not RUNTIME.trace


def test_a_guard_failing_on_a_later_entry_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    before = dict(vars(colorsys))
    blocker = hermetic_blocker(block_alpha=True, block_beta=True)
    with blocker:
        pass
    real = fakeguard_patch.install

    def flaky(options: dict[str, Any], runtime: Any) -> None:
        real(options, runtime)  # patches first, then fails: the handle must undo it
        if runtime.name == "beta":
            raise RuntimeError("cannot patch the target API")

    monkeypatch.setattr(fakeguard_patch, "install", flaky)
    with pytest.raises(HermeticError, match="guard 'beta' could not be installed"), blocker:
        pass  # pragma: no cover - never entered
    assert installed() == {} and active_policy() == BlockConfig()
    assert all(vars(colorsys)[name] is value for name, value in before.items())
    assert not alpha_blocked()
    monkeypatch.setattr(fakeguard_patch, "install", real)
    with blocker:
        assert alpha_blocked()
    assert not alpha_blocked()


def test_the_audit_layer_catches_what_the_patch_cannot() -> None:
    with hermetic_blocker(block_alpha=True), pytest.raises(PolicyViolation):
        fakeguard_patch.audit("alpha", "from C")
    fakeguard_patch.audit("alpha", "from C")  # nothing active: allowed


def test_config_and_keyword_and_profile_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    from hermetic.profiles import PROFILES, GuardConfig

    monkeypatch.setitem(PROFILES, "beta-only", GuardConfig._unchecked(block_beta=True))
    blocker = hermetic_blocker(BlockConfig(block_alpha=True), profile="beta-only", trace=True)
    assert blocker.config.block_alpha and blocker.config.block_beta and blocker.config.trace
    blocker = hermetic_blocker(PROFILES["beta-only"])
    assert blocker.config.block_beta
    with pytest.raises(TypeError, match="takes a BlockConfig"):
        hermetic_blocker({"block_alpha": True})  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="unknown profile"):
        hermetic_blocker(profile="nope")


def test_with_hermetic_on_functions_and_methods() -> None:
    @with_hermetic(block_alpha=True)
    def function(x: int) -> bool:
        return alpha_blocked() and x == 1

    class Thing:
        @with_hermetic(block_alpha=True)
        def method(self) -> bool:
            return alpha_blocked()

        @with_hermetic(block_alpha=True)
        @classmethod
        def klass(cls) -> bool:
            return alpha_blocked()

        @with_hermetic(block_alpha=True)
        @staticmethod
        def static() -> bool:
            return alpha_blocked()

    assert function(1)
    assert function.__name__ == "function"
    assert Thing().method() and Thing.klass() and Thing.static()
    assert not alpha_blocked()
    with pytest.raises(TypeError, match="not classes"):
        with_hermetic(block_alpha=True)(Thing)


def test_with_hermetic_on_coroutines_and_generators() -> None:
    @with_hermetic(block_alpha=True)
    async def coroutine() -> bool:
        await asyncio.sleep(0)
        return alpha_blocked()

    @with_hermetic(block_alpha=True)
    def generator() -> Iterator[bool]:
        yield alpha_blocked()
        yield alpha_blocked()

    @with_hermetic(block_alpha=True)
    async def agen() -> AsyncIterator[bool]:
        await asyncio.sleep(0)
        yield alpha_blocked()

    async def collect() -> list[bool]:
        return [x async for x in agen()]

    assert asyncio.run(coroutine()) is True
    assert list(generator()) == [True, True]
    assert asyncio.run(collect()) == [True]
    assert not alpha_blocked()


def test_async_context_manager() -> None:
    async def main() -> bool:
        async with hermetic_blocker(block_alpha=True):
            return alpha_blocked()

    assert asyncio.run(main())
    assert not alpha_blocked()


def test_policies_are_process_wide() -> None:
    seen: list[bool] = []
    with hermetic_blocker(block_alpha=True):
        thread = threading.Thread(target=lambda: seen.append(alpha_blocked()))
        thread.start()
        thread.join()
    assert seen == [True]


def test_install_all_and_uninstall_all() -> None:
    install_all(block_alpha=True)
    install_all(block_beta=True)
    assert sorted(installed()) == ["alpha", "beta"]
    assert active_policy() == BlockConfig(block_alpha=True, block_beta=True)
    with hermetic_blocker(alpha_strict=True):
        pass
    uninstall_all()
    assert installed() == {}
    assert not alpha_blocked()


def test_a_guard_that_cannot_install_fails_closed_and_rolls_back() -> None:
    with fake_registry(entry("alpha", "alpha"), entry("broken", "broken_install")):
        with hermetic_blocker(block_alpha=True):
            with pytest.raises(HermeticError) as info, hermetic_blocker(block_broken=True):
                pass  # pragma: no cover - never entered
            assert "guard 'broken' could not be installed" in str(info.value)
            assert "reinstall hermetic-fake" in str(info.value)
            assert list(installed()) == ["alpha"]
        assert installed() == {}


def test_conflicting_stacked_values_fail_at_entry(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with hermetic_blocker(block_alpha=True, alpha_root=str(a)):
        clash = hermetic_blocker(block_alpha=True, alpha_root=str(b))
        with pytest.raises(PolicyError, match="neither contains"), clash:
            pass  # pragma: no cover
        assert installed()["alpha"]["alpha_root"] == str(a)


def run_with_fakes(code: str) -> subprocess.CompletedProcess[str]:
    prelude = textwrap.dedent(
        """
        import colorsys
        from hermetic import hermetic_blocker, PolicyViolation
        from hermetic.guards import install_all, uninstall_all, installed
        from hermetic_testsupport.fakeguards import fake_registry
        def blocked(fn, *args):
            try:
                fn(*args)
            except PolicyViolation:
                return True
            return False
        """
    )
    body = "with fake_registry():\n" + textwrap.indent(textwrap.dedent(code), "    ")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, "-c", prelude + body], capture_output=True, text=True, env=env
    )


def test_sealed_policy_is_frozen() -> None:
    proc = run_with_fakes(
        """
        blocker = hermetic_blocker(block_alpha=True, sealed=True)
        blocker.__enter__()
        blocker.__exit__(None, None, None)
        print("after exit", blocked(colorsys.rgb_to_hsv, 0.5, 0, 0))
        uninstall_all()
        print("after uninstall_all", blocked(colorsys.rgb_to_hsv, 0.5, 0, 0))
        with hermetic_blocker(block_beta=True):
            pass
        print("inner added beta", blocked(colorsys.hsv_to_rgb, 0.5, 0, 0))
        with hermetic_blocker(block_alpha=False):
            print("cannot lift alpha", blocked(colorsys.rgb_to_hsv, 0.5, 0, 0))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "after exit True",
        "after uninstall_all True",
        "inner added beta True",
        "cannot lift alpha True",
    ]


def test_sealed_audit_layer_outlives_undone_patches() -> None:
    proc = run_with_fakes(
        """
        from hermetic_testsupport import fakeguard_patch
        original = colorsys.rgb_to_hsv
        install_all(block_alpha=True, sealed=True)
        colorsys.rgb_to_hsv = original  # a program undoing the patch by hand
        print("patch gone", not blocked(colorsys.rgb_to_hsv, 0.5, 0, 0))
        print("audit still", blocked(fakeguard_patch.audit, "alpha", "x"))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["patch gone True", "audit still True"]


def test_blocker_repr_names_the_policy() -> None:
    assert "block_alpha=True" in repr(hermetic_blocker(block_alpha=True))


def test_hermetic_blocker_requires_known_options() -> None:
    with pytest.raises(PolicyError, match="unknown option"):
        hermetic_blocker(block_everything=True)


def test_options_of_an_uninstalled_first_party_guard() -> None:
    with pytest.raises(PolicyError, match="requires hermetic-proc: pip install hermetic-proc"):
        hermetic_blocker(block_subprocess=True)


def _unused(*_: Any) -> None:
    pass
