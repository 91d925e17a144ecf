"""The runtime: layered patches, audit dispatch, violations and trace."""

from __future__ import annotations

import colorsys
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from hermetic._runtime import GuardRuntime, Runtime
from hermetic.errors import PolicyViolation


class Target:
    """A class whose method gets patched in these tests."""

    def method(self, x: int) -> int:
        return x * 2


def fresh() -> Runtime:
    return Runtime()


def deny_if(value: Any, handle: GuardRuntime) -> Any:
    def check(*args: Any, **kwargs: Any) -> None:
        if value in args:
            handle.deny(f"use {value}", target=value, reason=f"{handle.name} disabled", hint="h")

    return check


def test_check_before_and_undo_restores_exactly() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    before = dict(vars(colorsys))
    original = colorsys.rgb_to_hsv
    handle.check_before(colorsys, "rgb_to_hsv", deny_if(0.25, handle))
    assert colorsys.rgb_to_hsv is not original
    assert colorsys.rgb_to_hsv.__name__ == "rgb_to_hsv"
    assert not hasattr(colorsys.rgb_to_hsv, "__wrapped__")
    assert colorsys.rgb_to_hsv(1, 0, 0) == original(1, 0, 0)
    with pytest.raises(PolicyViolation) as info:
        colorsys.rgb_to_hsv(0.25, 0, 0)
    assert str(info.value) == "g disabled: use 0.25 (h)"
    assert info.value.guard == "g"
    assert info.value.target == "0.25"
    assert info.value.what == "use 0.25"
    handle.undo()
    assert dict(vars(colorsys)) == before


def test_inherited_method_is_restored_by_deletion() -> None:
    class Child(Target):
        pass

    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    handle.check_before(Child, "method", deny_if(3, handle))
    assert Child().method(2) == 4
    with pytest.raises(PolicyViolation):
        Child().method(3)
    assert Target().method(3) == 6  # the base class is untouched
    handle.undo()
    assert "method" not in vars(Child)


def test_wrap_changes_behaviour() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    handle.wrap(Target, "method", lambda original, self, x: original(self, x) + 1)
    try:
        assert Target().method(1) == 3
    finally:
        handle.undo()
    assert Target().method(1) == 2


def test_layers_can_be_removed_in_any_order() -> None:
    runtime = fresh()
    low, high = GuardRuntime(runtime, "low"), GuardRuntime(runtime, "high")
    original = vars(Target)["method"]
    low.check_before(Target, "method", deny_if(1, low))
    high.check_before(Target, "method", deny_if(2, high))
    with pytest.raises(PolicyViolation, match="low"):
        Target().method(1)
    with pytest.raises(PolicyViolation, match="high"):
        Target().method(2)
    low.undo()  # the lower layer is spliced out from under the upper one
    assert Target().method(1) == 2
    with pytest.raises(PolicyViolation, match="high"):
        Target().method(2)
    high.undo()
    assert vars(Target)["method"] is original


def test_a_foreign_patch_on_top_keeps_working_and_ours_passes_through() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    original = vars(Target)["method"]
    handle.check_before(Target, "method", deny_if(1, handle))
    ours = vars(Target)["method"]

    def foreign(self: Target, x: int) -> int:
        return int(ours(self, x)) + 100

    Target.method = foreign  # type: ignore[method-assign]
    try:
        handle.undo()
        assert Target().method(1) == 102  # our layer no longer checks, the chain still works
    finally:
        Target.method = original  # type: ignore[method-assign]


def test_audit_handlers_and_unsubscribe() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    seen: list[Any] = []
    handle.on_audit("hermetic.test.runtime", lambda event, args: seen.append(args))
    assert runtime.hook_live
    sys.audit("hermetic.test.runtime", 1)
    handle.undo()
    sys.audit("hermetic.test.runtime", 2)
    assert seen == [(1,)]
    assert "hermetic.test.runtime" not in runtime.subscribed_events()


def test_audit_handler_can_refuse() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    handle.on_audit("hermetic.test.refuse", lambda event, args: handle.deny("x", target=args[0]))
    try:
        with pytest.raises(PolicyViolation):
            sys.audit("hermetic.test.refuse", "t")
    finally:
        handle.undo()


def test_handlers_are_not_reentered_by_their_own_events() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    calls: list[Any] = []

    def handler(event: str, args: tuple[Any, ...]) -> None:
        calls.append(args)
        sys.audit("hermetic.test.reenter", "inner")

    handle.on_audit("hermetic.test.reenter", handler)
    try:
        sys.audit("hermetic.test.reenter", "outer")
    finally:
        handle.undo()
    assert calls == [("outer",)]


def test_sealed_runtime_never_undoes() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    original = vars(Target)["method"]
    handle.check_before(Target, "method", deny_if(5, handle))
    runtime.seal()
    handle.undo()
    try:
        assert handle.sealed
        with pytest.raises(PolicyViolation):
            Target().method(5)
    finally:
        Target.method = original  # type: ignore[method-assign]


def test_trace_lines(capsys: pytest.CaptureFixture[str]) -> None:
    runtime = fresh()
    runtime.trace = True
    runtime.violation("network", "connect to 10.0.0.1:80", "10.0.0.1:80", "network disabled")
    runtime.violation("fs", "open('/x', 'w')", "/etc/x", None, "use --allow-write")
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "hermetic: blocked network: connect to 10.0.0.1:80",
        "hermetic: blocked fs: open('/x', 'w') (/etc/x)",
    ]


def test_a_thread_inside_a_handler_does_not_mute_the_other_threads() -> None:
    import threading

    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    inside, release = threading.Event(), threading.Event()
    calls: list[Any] = []

    def handler(event: str, args: tuple[Any, ...]) -> None:
        calls.append(args[0])
        if args[0] == "first":
            inside.set()
            release.wait(10)

    handle.on_audit("hermetic.test.threads", handler)
    worker = threading.Thread(target=sys.audit, args=("hermetic.test.threads", "first"))
    try:
        worker.start()
        assert inside.wait(10)
        sys.audit("hermetic.test.threads", "second")  # while the worker is still inside
    finally:
        release.set()
        worker.join(10)
        handle.undo()
    assert calls == ["first", "second"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_forgets_which_threads_were_inside_a_handler() -> None:
    # A thread inside a handler when another forks does not exist in the child, where a
    # new thread may get its identity: that thread's events must still be dispatched.
    code = textwrap.dedent(
        """
        import gc, os, sys, threading
        from hermetic._runtime import Runtime, GuardRuntime
        handle = GuardRuntime(Runtime(), "g")
        inside, release = threading.Event(), threading.Event()
        def handler(event, args):
            inside.set()
            release.wait(10)
        handle.on_audit("hermetic.test.fork", handler)
        worker = threading.Thread(target=sys.audit, args=("hermetic.test.fork",))
        worker.start()
        inside.wait(10)
        hook = next(o for o in gc.get_objects()
                    if getattr(o, "__name__", None) == "_hermetic_audit_hook")
        busy = next(c.cell_contents for c in hook.__closure__
                    if type(c.cell_contents) is set)
        pid = os.fork()
        if pid == 0:
            print("child", sorted(busy) == [], flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent", sorted(busy) == [worker.ident], flush=True)
        release.set()
        worker.join(10)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split("\n")[:2] == ["child True", "parent True"], done.stderr


def test_failing_to_add_the_audit_hook_fails_closed() -> None:
    code = textwrap.dedent(
        """
        import sys
        def veto(event, args):
            if event == "sys.addaudithook":
                raise RuntimeError("no more hooks")
        sys.addaudithook(veto)
        from hermetic._runtime import Runtime, GuardRuntime
        handle = GuardRuntime(Runtime(), "g")
        try:
            handle.on_audit("x", lambda e, a: None)
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.startswith("HermeticError hermetic could not add its audit hook")


def test_a_violation_of_a_kind_is_also_that_exception() -> None:
    runtime = fresh()
    handle = GuardRuntime(runtime, "g")
    seen: list[PolicyViolation] = []
    runtime.observe(seen.append)
    runtime.trace = True
    exc = handle.violation("import x", "x", reason="import denied", kind=ModuleNotFoundError)
    assert isinstance(exc, PolicyViolation) and isinstance(exc, ModuleNotFoundError)
    assert type(exc).__name__ == "PolicyViolation"
    assert type(exc).__module__ == PolicyViolation.__module__
    assert (str(exc), exc.guard, exc.target) == ("import denied: import x", "g", "x")
    assert exc.what == "import x"
    assert seen == [exc]
    # one class per kind, so that two refusals compare alike
    assert type(handle.violation("y", kind=ModuleNotFoundError)) is type(exc)
    assert type(handle.violation("y", kind=OSError)) is not type(exc)
    # no kind, or one PolicyViolation already is: the plain class
    assert type(handle.violation("y")) is PolicyViolation
    assert type(handle.violation("y", kind=RuntimeError)) is PolicyViolation
    with pytest.raises(ImportError) as info:
        handle.deny("import z", "z", kind=ModuleNotFoundError)
    assert isinstance(info.value, PolicyViolation)


def test_a_violation_of_a_kind_pickles_as_a_plain_policy_violation() -> None:
    import pickle

    exc = GuardRuntime(fresh(), "g").violation("load x", "x", reason="r", hint="h", kind=OSError)
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is PolicyViolation
    assert (str(copy), copy.guard, copy.target, copy.what) == ("r: load x (h)", "g", "x", "load x")


def test_violation_kinds_work_in_the_bootstrap_copy_too() -> None:
    from hermetic import _runtime

    code = textwrap.dedent(
        """
        import sys
        namespace = {"__name__": "sitecustomize"}
        exec(compile(SOURCE, "sitecustomize.py", "exec"), namespace)
        handle = namespace["GuardRuntime"](namespace["RUNTIME"], "g")
        base = namespace["PolicyViolation"]
        assert "hermetic" not in sys.modules, "hermetic must not be importable here"
        try:
            handle.deny("import m", "m", kind=ModuleNotFoundError)
        except ImportError as exc:
            assert isinstance(exc, base) and exc.guard == "g" and exc.target == "m"
            print("ok", type(exc).__name__, type(exc).__module__)
        """
    )
    with open(_runtime.__file__, encoding="utf-8") as f:
        source = f.read()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", f"SOURCE = {source!r}\n" + code],
        capture_output=True,
        text=True,
    )
    assert proc.stdout.strip() == "ok PolicyViolation sitecustomize", proc.stderr


# -- spare layers: a layer removed from the top of its attribute is reused -----------------


def test_a_layer_removed_from_the_top_is_reused_with_the_new_check() -> None:
    runtime = fresh()
    before = dict(vars(colorsys))
    original = colorsys.rgb_to_hsv
    first = GuardRuntime(runtime, "first")
    first.check_before(colorsys, "rgb_to_hsv", deny_if(0.25, first))
    replacement = colorsys.rgb_to_hsv
    first.undo()
    assert colorsys.rgb_to_hsv is original and dict(vars(colorsys)) == before
    assert replacement(0.25, 0, 0) == original(0.25, 0, 0)  # a captured layer passes through
    second = GuardRuntime(runtime, "second")
    second.check_before(colorsys, "rgb_to_hsv", deny_if(0.5, second))
    try:
        assert colorsys.rgb_to_hsv is replacement  # the same function, the new guard's check
        assert colorsys.rgb_to_hsv.__name__ == "rgb_to_hsv"
        assert colorsys.rgb_to_hsv(0.25, 0, 0) == original(0.25, 0, 0)
        with pytest.raises(PolicyViolation, match="second"):
            colorsys.rgb_to_hsv(0.5, 0, 0)
    finally:
        second.undo()
    assert colorsys.rgb_to_hsv is original and dict(vars(colorsys)) == before


def test_check_before_and_wrap_layers_are_not_reused_for_each_other() -> None:
    runtime = fresh()
    original = vars(Target)["method"]
    checked = GuardRuntime(runtime, "checked")
    checked.check_before(Target, "method", deny_if(1, checked))
    checked.undo()
    wrapped = GuardRuntime(runtime, "wrapped")
    wrapped.wrap(Target, "method", lambda previous, self, x: previous(self, x) + 1)
    try:
        assert Target().method(1) == 3  # a wrapper, not a check
    finally:
        wrapped.undo()
    assert vars(Target)["method"] is original


def test_a_spare_layer_is_not_reused_once_the_attribute_changed() -> None:
    runtime = fresh()
    original = colorsys.rgb_to_hsv
    first = GuardRuntime(runtime, "first")
    first.check_before(colorsys, "rgb_to_hsv", deny_if(0.25, first))
    replacement = colorsys.rgb_to_hsv
    first.undo()

    def foreign(r: float, g: float, b: float) -> tuple[float, float, float]:
        return (-1.0, -1.0, -1.0)

    colorsys.rgb_to_hsv = foreign
    try:
        second = GuardRuntime(runtime, "second")
        second.check_before(colorsys, "rgb_to_hsv", deny_if(0.5, second))
        assert colorsys.rgb_to_hsv is not replacement
        assert colorsys.rgb_to_hsv.__qualname__ == foreign.__qualname__
        assert colorsys.rgb_to_hsv(0.25, 0, 0) == (-1.0, -1.0, -1.0)  # delegates to foreign
        with pytest.raises(PolicyViolation, match="second"):
            colorsys.rgb_to_hsv(0.5, 0, 0)
        second.undo()
        assert colorsys.rgb_to_hsv is foreign
    finally:
        colorsys.rgb_to_hsv = original


def test_a_captured_layer_put_back_by_foreign_code_is_wrapped_not_reused() -> None:
    runtime = fresh()
    original = colorsys.rgb_to_hsv
    first = GuardRuntime(runtime, "first")
    first.check_before(colorsys, "rgb_to_hsv", deny_if(0.25, first))
    captured = colorsys.rgb_to_hsv
    first.undo()
    colorsys.rgb_to_hsv = captured  # foreign code restores what it saw under the guard
    try:
        second = GuardRuntime(runtime, "second")
        second.check_before(colorsys, "rgb_to_hsv", deny_if(0.5, second))
        assert colorsys.rgb_to_hsv is not captured
        # No loop through the old layer: it passes through to the original.
        assert colorsys.rgb_to_hsv(0.25, 0, 0) == original(0.25, 0, 0)
        with pytest.raises(PolicyViolation, match="second"):
            colorsys.rgb_to_hsv(0.5, 0, 0)
        second.undo()
        assert colorsys.rgb_to_hsv is captured
    finally:
        colorsys.rgb_to_hsv = original


def test_layers_over_one_attribute_keep_working_when_reused_after_a_splice() -> None:
    runtime = fresh()
    original = vars(Target)["method"]
    for _ in range(3):  # the later rounds reuse the layers the earlier ones left as spares
        low, high = GuardRuntime(runtime, "low"), GuardRuntime(runtime, "high")
        low.check_before(Target, "method", deny_if(1, low))
        high.check_before(Target, "method", deny_if(2, high))
        with pytest.raises(PolicyViolation, match="low"):
            Target().method(1)
        with pytest.raises(PolicyViolation, match="high"):
            Target().method(2)
        low.undo()
        assert Target().method(1) == 2
        high.undo()
        assert vars(Target)["method"] is original
        assert Target().method(2) == 4


def test_a_reused_layer_sleeps_while_the_runtime_is_suspended() -> None:
    runtime = fresh()
    first = GuardRuntime(runtime, "first")
    first.check_before(Target, "method", deny_if(3, first))
    first.undo()
    assert runtime.suspend()
    second = GuardRuntime(runtime, "second")
    second.check_before(Target, "method", deny_if(3, second))
    try:
        assert Target().method(3) == 6
        runtime.resume()
        with pytest.raises(PolicyViolation):
            Target().method(3)
    finally:
        runtime.resume()
        second.undo()


def test_an_owner_that_cannot_be_hashed_is_patched_and_restored() -> None:
    class Unhashable(type):
        __hash__ = None  # type: ignore[assignment]

    class Owner(metaclass=Unhashable):
        def method(self, x: int) -> int:
            return x + 1

    runtime = fresh()
    original = vars(Owner)["method"]
    for _ in range(2):
        handle = GuardRuntime(runtime, "g")
        handle.check_before(Owner, "method", deny_if(5, handle))
        with pytest.raises(PolicyViolation):
            Owner().method(5)
        handle.undo()
        assert vars(Owner)["method"] is original
