"""pytest fixtures shared by every test package (loaded from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic import guards
from hermetic._runtime import RUNTIME
from hermetic_testsupport.runs import MODES, GuardedRun, bare_venv, run_guarded


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter of this test run's Python version where hermetic is not importable."""
    return bare_venv(tmp_path_factory.mktemp("bare") / "venv")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each delivery mode in turn: ``"inprocess"`` and ``"bootstrap"``."""
    return str(request.param)


@pytest.fixture
def guarded(bare_python: str, tmp_path: Path) -> Callable[..., GuardedRun]:
    """``guarded(mode, policy, body, **kw)``: :func:`run_guarded` with this test's paths."""

    def run(mode: str, policy: dict[str, Any], body: str, **kwargs: Any) -> GuardedRun:
        return run_guarded(mode, policy, body, bare_python=bare_python, tmp_path=tmp_path, **kwargs)

    return run


@pytest.fixture(autouse=True)
def _no_guard_leaks() -> Iterator[None]:
    """Every test must leave no guard installed behind it."""
    yield
    if RUNTIME.sealed:
        raise AssertionError("a test sealed the test process; seal only in a subprocess")
    leaked = guards.installed()
    guards.uninstall_all()
    assert not leaked, f"guards left installed after the test: {sorted(leaked)}"
