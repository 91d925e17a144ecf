"""Fixtures of the interpreter guard's tests: runs both ways, and a directory to import from.

``both(mode, body)`` runs ``body`` twice in fresh interpreters of that mode: without any
guard (every case must really change what it changes) and under
``block_interpreter_mutation`` (every case must be refused and change nothing). Bodies call
``attempt(label, fn)`` as everywhere, and ``report(label, value)`` to record what really
happened (a list that changed, a module that got imported, the working directory).

``probe`` is a directory that is on no ``sys.path``: it holds ``probe_mod.py``, which
appends a line to ``marks.txt`` next to it when it is imported, so a refused import leaves
a check on disk as well as in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

POLICY: dict[str, Any] = {"block_interpreter_mutation": True}

#: Prepended to every body: ``report(label, value)`` and the probe directory's paths.
HELPERS = """
def report(label, value):
    _sys.stdout.write("@@" + _json.dumps([label, "value", value]) + "\\n")
    _sys.stdout.flush()
PROBE = {probe!r}
MARKS = PROBE + "/marks.txt"
def marks():
    try:
        with open(MARKS) as f:
            return f.read().split()
    except OSError:
        return []
"""

PROBE_MOD = """\
import os
with open(os.path.join(os.path.dirname(__file__), "marks.txt"), "a") as f:
    f.write(__name__ + "\\n")
VALUE = 42
"""


@dataclass
class Both:
    """The two runs of one body: without the guard and under it."""

    free: GuardedRun
    guarded: GuardedRun


def value(run: GuardedRun, label: str) -> Any:
    """What the body reported under ``label`` (``report(label, value)``)."""
    record = run.outcomes.get(label)
    if record is None or record[1] != "value":
        raise AssertionError(f"no report {label!r}; stdout={run.stdout!r} stderr={run.stderr!r}")
    return record[2]


def outcome(run: GuardedRun, label: str) -> list[Any]:
    """The ``attempt`` record of ``label``, failing with the run's output if it is missing."""
    run.status(label)
    return run.outcomes[label]


@pytest.fixture(autouse=True)
def _same_colorsys_afterwards() -> Iterator[None]:
    """Tests here import ``colorsys`` afresh to cause an import: put the original back.

    Other tests (the pytest plugin's) patch the module object they imported at collection;
    a fresh copy left in ``sys.modules`` would be patched in its place.
    """
    original = sys.modules.get("colorsys")
    yield
    if original is not None:
        sys.modules["colorsys"] = original


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    """A directory on no ``sys.path`` with ``probe_mod.py`` (see the module docstring)."""
    where = Path(os.path.realpath(tmp_path)) / "probe"
    where.mkdir()
    (where / "probe_mod.py").write_text(PROBE_MOD)
    return where


@pytest.fixture
def both(guarded: Callable[..., GuardedRun], probe: Path) -> Iterator[Callable[..., Both]]:
    """``both(mode, body, **kw)``: the body without the guard, then under it."""

    def run(mode: str, body: str, **kwargs: Any) -> Both:
        text = HELPERS.format(probe=str(probe)) + body
        free = guarded(mode, {}, text, **kwargs)
        marks = probe / "marks.txt"
        if marks.exists():
            marks.unlink()
        return Both(free, guarded(mode, POLICY, text, **kwargs))

    yield run


def dump(run: GuardedRun) -> str:
    """The run's outcomes and output, for assertion messages."""
    return json.dumps(run.outcomes, indent=1) + "\n" + run.stderr[-3000:]
