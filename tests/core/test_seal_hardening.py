"""Sealing the process's runtime also seals its audit hook.

Once sealed, the hook dispatches from a table of its own (later subscriptions reach it through
the ``hermetic.subscribe`` audit event, which only adds), ignores suspension, and keeps its
re-entry marker to itself: clearing the runtime's attributes no longer switches the audit
layer off. Sealing is for good, so every case runs in a fresh interpreter. A private,
unhardened ``Runtime()`` (what tests make) keeps the old behaviour, so a test can clean up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermetic._runtime import SUBSCRIBE_EVENT, GuardRuntime, Runtime
from hermetic.bootstrap import materialize
from hermetic.errors import PolicyViolation
from hermetic.policy import BlockConfig
from hermetic_testsupport.fakeguards import entry, fake_registry

PRELUDE = """
import sys, _thread
from hermetic._runtime import RUNTIME, GuardRuntime, SUBSCRIBE_EVENT
handle = GuardRuntime(RUNTIME, "g")
def deny(event, args):
    handle.deny("use " + event, target=args[0])
def refused(event):
    try:
        sys.audit(event, "t")
    except Exception as exc:
        return type(exc).__name__
    return "passed"
"""


def run(code: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_clearing_the_runtime_s_attributes_leaves_a_sealed_hook_enforcing() -> None:
    assert run(
        """
        handle.on_audit("hermetic.test.a", deny)
        RUNTIME.seal()
        print("sealed", refused("hermetic.test.a"))
        RUNTIME._handlers.clear()
        print("handlers cleared", refused("hermetic.test.a"))
        RUNTIME._suspended = True
        print("suspended", refused("hermetic.test.a"))
        RUNTIME._sealed = False
        handle.undo()
        print("unsealed and undone", refused("hermetic.test.a"))
        print("no reentry marker on the runtime",
              not any(isinstance(v, (_thread._local, set)) for v in vars(RUNTIME).values()))
        """
    ) == [
        "sealed PolicyViolation",
        "handlers cleared PolicyViolation",
        "suspended PolicyViolation",
        "unsealed and undone PolicyViolation",
        "no reentry marker on the runtime True",
    ]


def test_before_the_seal_the_hook_follows_the_runtime() -> None:
    # What an unsealed process may do: suspend, unsubscribe. Sealing freezes it, not before.
    assert run(
        """
        handle.on_audit("hermetic.test.a", deny)
        RUNTIME._suspended = True
        print("suspended", refused("hermetic.test.a"))
        RUNTIME._suspended = False
        handle.undo()
        print("undone", refused("hermetic.test.a"))
        sys.audit(SUBSCRIBE_EVENT, "hermetic.test.a", deny)  # only a sealed hook listens
        print("subscribe event", refused("hermetic.test.a"))
        """
    ) == ["suspended passed", "undone passed", "subscribe event passed"]


@pytest.mark.parametrize("hook_first", [True, False], ids=["hook-then-seal", "seal-then-hook"])
def test_handlers_subscribed_after_the_seal_reach_the_sealed_hook(hook_first: bool) -> None:
    first = 'handle.on_audit("hermetic.test.a", deny)\n' if hook_first else ""
    assert run(
        first
        + """
RUNTIME.seal()
later = GuardRuntime(RUNTIME, "h")
later.on_audit("hermetic.test.b", deny)
print("later", refused("hermetic.test.b"))
RUNTIME._handlers.clear()
print("later, cleared", refused("hermetic.test.b"))
print("unrelated", refused("hermetic.test.c"))
"""
    ) == ["later PolicyViolation", "later, cleared PolicyViolation", "unrelated passed"]


def test_the_subscribe_event_only_adds() -> None:
    assert SUBSCRIBE_EVENT == "hermetic.subscribe"  # the name docs/sealed.md gives
    assert run(
        """
        handle.on_audit("hermetic.test.a", deny)
        RUNTIME.seal()
        sys.audit(SUBSCRIBE_EVENT, "hermetic.test.a", None)  # not a handler: ignored
        sys.audit(SUBSCRIBE_EVENT, "hermetic.test.a")  # malformed: ignored
        print("a", refused("hermetic.test.a"))
        sys.audit(SUBSCRIBE_EVENT, "hermetic.test.b", deny)  # anyone may add a refusal
        print("b", refused("hermetic.test.b"))
        print("public table unchanged", "hermetic.test.b" not in RUNTIME.subscribed_events())
        """
    ) == ["a PolicyViolation", "b PolicyViolation", "public table unchanged True"]


def test_a_private_unhardened_runtime_can_be_cleaned_up_after_sealing() -> None:
    runtime = Runtime()
    handle = GuardRuntime(runtime, "g")

    def deny(event: str, args: tuple[object, ...]) -> None:
        handle.deny("x")

    handle.on_audit("hermetic.test.private", deny)
    runtime.seal()
    with pytest.raises(PolicyViolation):
        sys.audit("hermetic.test.private", 1)
    runtime._sealed = False  # what a test does to clean up its own runtime
    handle.undo()
    sys.audit("hermetic.test.private", 2)  # passes: nothing of it stays behind
    assert "hermetic.test.private" not in runtime.subscribed_events()


@pytest.fixture
def fakes() -> Iterator[None]:
    with fake_registry(entry("alpha", "alpha")):
        yield


@pytest.mark.usefixtures("fakes")
def test_the_sealed_bootstrap_hook_is_sealed_too(bare_python: str, tmp_path: Path) -> None:
    directory = materialize(BlockConfig(block_alpha=True, sealed=True), root=str(tmp_path))
    code = textwrap.dedent(
        """
        import sys
        runtime = sys.modules["sitecustomize"].RUNTIME
        runtime._handlers.clear()
        runtime._suspended = True
        runtime._sealed = False
        try:
            sys.audit("hermetic.test.alpha", "x")
        except Exception as exc:
            print(type(exc).__name__)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = directory
    proc = subprocess.run([bare_python, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == "PolicyViolation", proc.stderr
