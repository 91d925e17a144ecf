"""Helpers of the code-exec guard's tests: bodies that report what really ran.

A body runs in a fresh interpreter (``guarded(mode, policy, body)``, see
``hermetic_testsupport.runs``). Its cases append their label to ``HITS`` from inside the code
they try to run, so a refused case is one whose code did not run at all, not only one that
raised; ``report(label, value)`` records a value to compare between runs with and without
the guard.
"""

from __future__ import annotations

import textwrap
from typing import Any, Callable

from hermetic_testsupport.runs import GuardedRun

Guarded = Callable[..., GuardedRun]

BLOCK: dict[str, Any] = {"block_code_exec": True}

#: Put in front of every body: ``HITS`` and ``report``.
HEAD = """
HITS = []
def report(label, value):
    _sys.stdout.write("@@" + _json.dumps([label, "value", value]) + "\\n")
    _sys.stdout.flush()
"""

#: Put at the end of every body: what ran.
TAIL = """
report("HITS", sorted(set(HITS)))
"""


def body(text: str) -> str:
    """``text`` between :data:`HEAD` and :data:`TAIL`."""
    return HEAD + textwrap.dedent(text) + TAIL


def value(run: GuardedRun, label: str) -> Any:
    """The value a body reported under ``label``."""
    record = run.outcomes.get(label)
    assert record is not None and record[1] == "value", (label, run.stdout, run.stderr)
    return record[2]


def hits(run: GuardedRun) -> list[str]:
    """The labels whose code really ran."""
    return list(value(run, "HITS"))


def check(run: GuardedRun) -> GuardedRun:
    """Fail with the child's output if it did not finish normally."""
    assert run.returncode == 0, run.stdout + run.stderr
    return run
