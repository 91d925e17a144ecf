"""Fixtures of the docs tests: the interpreter the examples run in, and its real help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.wheels import session_wheelhouse

DEMO = "hermetic-demo-guard"

Run = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def docs_environ(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an example: this test run's interpreter, where every first-party
    guard is installed, plus the third-party fixture guard (its wheel unpacked on
    ``PYTHONPATH``: importable and discovered through its dist-info); a private cache; no
    real browser; this interpreter first on PATH as ``python``."""
    house = session_wheelhouse(tmp_path_factory)
    demo = house.unpack(DEMO, tmp_path_factory.mktemp("demo-guard"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HERMETIC"))}
    env["PYTHONPATH"] = str(demo)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["HERMETIC_CACHE_DIR"] = str(tmp_path_factory.mktemp("docs-hermetic-cache"))
    env["BROWSER"] = "true"  # should a browser really be opened, nothing happens
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def run_in_docs_env(docs_environ: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``run(*argv)``: run ``argv`` in the examples' environment, in an empty directory."""
    cwd = tmp_path_factory.mktemp("docs-cwd")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            cwd=str(cwd),
            env=docs_environ,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    return run
