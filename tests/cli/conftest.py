"""Fixtures for the ``hermetic`` command's end-to-end tests.

Every test runs the real command in a subprocess, from fresh virtual environments built
from this repository's wheels (never a package index):

* ``hermetic_env``: hermetic-core, hermetic-cli, every first-party guard, the third-party
  fixture guard (``--no-webbrowser``) and the test console scripts (``ht-*``);
* ``netonly_env``: hermetic-core, hermetic-cli and hermetic-net only;
* ``other_env``: the test console scripts only; hermetic is not importable there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic_testsupport.wheels import Wheelhouse, session_wheelhouse

TESTTOOLS = Path(__file__).parent / "projects" / "testtools"
GUARD_DISTRIBUTIONS = ("hermetic-net", "hermetic-fs", "hermetic-proc", "hermetic-imports")


class Env:
    """A virtual environment made for the tests, and how to run things in it."""

    def __init__(self, python: str) -> None:
        self.python = python
        self.bindir = Path(python).parent
        self._guards: dict[str, Any] | None = None

    def bin(self, name: str) -> str:
        return str(self.bindir / name)

    def environ(self, cache: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A clean environment: this venv's bin first on PATH, a private hermetic cache."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HERMETIC"))}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PATH"] = f"{self.bindir}{os.pathsep}{env.get('PATH', '')}"
        env["HERMETIC_CACHE_DIR"] = str(cache)
        env.update(extra or {})
        return env

    def guards(self, cache: Path) -> dict[str, Any]:
        """``hermetic --list-guards --json`` of this venv, by guard name."""
        if self._guards is None:
            out = subprocess.run(
                [self.bin("hermetic"), "--list-guards", "--json"],
                env=self.environ(cache),
                capture_output=True,
                text=True,
                check=True,
            )
            self._guards = {row["name"]: row for row in json.loads(out.stdout)}
        return self._guards

    def require(self, cache: Path, *names: str) -> None:
        """Skip the test unless every guard in ``names`` loads in this venv."""
        rows = self.guards(cache)
        for name in names:
            row = rows.get(name)
            if row is None:
                pytest.skip(f"the {name} guard is not registered in this venv")
            if row["error"] is not None:
                pytest.skip(f"the {name} guard does not load yet: {row['error']}")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    house = session_wheelhouse(tmp_path_factory)
    house.add_project("hermetic-cli-testtools", TESTTOOLS)
    return house


def _venv(
    wheelhouse: Wheelhouse, factory: pytest.TempPathFactory, name: str, dists: Sequence[str]
) -> Env:
    return Env(wheelhouse.venv(factory.mktemp(name) / "venv", dists))


@pytest.fixture(scope="session")
def hermetic_env(wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> Env:
    dists = ["hermetic-cli", *GUARD_DISTRIBUTIONS, "hermetic-demo-guard", "hermetic-cli-testtools"]
    return _venv(wheelhouse, tmp_path_factory, "hermetic-env", dists)


@pytest.fixture(scope="session")
def netonly_env(wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> Env:
    return _venv(wheelhouse, tmp_path_factory, "netonly-env", ["hermetic-cli", "hermetic-net"])


@pytest.fixture(scope="session")
def other_env(wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> Env:
    return _venv(wheelhouse, tmp_path_factory, "other-env", ["hermetic-cli-testtools"])


@pytest.fixture(scope="session")
def guard_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guard-listing-cache")


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run(tmp_path: Path) -> Runner:
    """``run(env, *args, extra_env=None, cwd=None, timeout=60)``: ``hermetic *args`` in env."""
    cache = tmp_path / "hermetic-cache"

    def runner(
        env: Env,
        *args: str,
        extra_env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
        command: Sequence[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [*(command or [env.bin("hermetic")]), *args]
        return subprocess.run(
            argv,
            env=env.environ(cache, extra_env),
            cwd=str(cwd or tmp_path),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return runner


@pytest.fixture
def browser(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """``BROWSER`` set to a command that records the URL it was asked to open."""
    marker = tmp_path / "browser-opened"
    script = tmp_path / "fake-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{marker}"\n')
    script.chmod(0o755)
    return {"BROWSER": f"{script} %s"}, marker


@pytest.fixture
def dev_hermetic() -> list[str]:
    """The command in this test run's own (editable) environment."""
    return [sys.executable, "-m", "hermetic_cli"]
