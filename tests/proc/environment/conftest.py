"""Fixtures of the environment guard's tests: a known environment and helpers for bodies.

Every run gets ``ENV`` on top of the test process's environment: a secret the program must
never see under the guard, a variable the policies allow, and variables that writes may
try to change or remove. Bodies can call:

* ``c_getenv(name)``: the variable as the C library sees it (through ``ctypes``, beside
  every guard), so that "a refused write changed nothing" is checked for real;
* ``raw_get(name)``: the variable as the storage under ``os.environ`` holds it;
* ``reveals(value)``: raise unless ``value`` carries the secret, so that an ``ok`` without
  the guard means the read really got it;
* ``report(label, value)``: record a value next to the attempts (``run.outcomes[label][2]``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

SECRET = "s3cr3t-value"
ENV = {
    "HT_SECRET": SECRET,
    "HT_ALLOWED": "allowed-value",
    "HT_DOOMED": "doomed",
    "HT_DOOMED2": "doomed",
    "HT_DOOMED3": "doomed",
}
BLOCK: dict[str, Any] = {"block_environment": True}

HELPERS = f"""
import ctypes as _ctypes
_libc = _ctypes.CDLL(None)
_libc.getenv.restype = _ctypes.c_char_p
SECRET = {SECRET!r}
def c_getenv(name):
    value = _libc.getenv(name.encode())
    return None if value is None else value.decode()
def raw_get(name):
    import os
    value = os.environ._data.get(name.encode())
    return None if value is None else value.decode()
def reveals(value):
    if SECRET not in repr(value):
        raise AssertionError("the secret was not read: %r" % (value,))
    return value
def report(label, value):
    _sys.stdout.write("@@" + _json.dumps([label, "value", value]) + "\\n")
    _sys.stdout.flush()
"""

EnvRun = Callable[..., GuardedRun]


@pytest.fixture
def env_run(guarded: Callable[..., GuardedRun]) -> EnvRun:
    """``env_run(mode, policy, body, env=None)``: a guarded run with ``ENV`` and the helpers."""

    def run(mode: str, policy: dict[str, Any], body: str, **kwargs: Any) -> GuardedRun:
        env = {**ENV, **kwargs.pop("env", {})}
        return guarded(mode, policy, HELPERS + textwrap.dedent(body), env=env, **kwargs)

    return run


def value(run: GuardedRun, label: str) -> Any:
    """What ``report(label, ...)`` recorded."""
    record = run.outcomes.get(label)
    assert record is not None and record[1] == "value", (label, run.stdout, run.stderr)
    return record[2]


def statuses(run: GuardedRun, labels: list[str]) -> dict[str, str]:
    """``{label: status}``, so a failing assertion shows every case at once."""
    return {label: run.status(label) for label in labels}


def refused(run: GuardedRun, label: str) -> tuple[str, str, str]:
    """``(status, guard, target)`` of one attempt."""
    record = run.outcomes[label]
    return record[1], record[2], record[3]


def write_module(where: Path, name: str, source: str) -> Path:
    """Write a module the body can import (the runs' working directory is on sys.path)."""
    path = where / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path
