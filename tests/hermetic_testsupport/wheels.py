"""Wheels of this repository's distributions, installed into fresh virtual environments.

Nothing here reaches a package index: wheels are built by the test interpreter's own
hatchling without build isolation, and installed with ``--no-index --find-links`` (the
name ``hermetic-seal`` on PyPI belongs to an older project). A :class:`Wheelhouse` builds
each distribution once per test session, also across pytest-xdist workers (a file lock
guards the build), so many tests can make fresh environments cheaply::

    house = session_wheelhouse(tmp_path_factory)
    python = house.venv(tmp_path / "venv", ["hermetic-cli", "hermetic-net"])
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Distribution name -> project directory, for everything this repository can build.
PROJECTS: dict[str, Path] = {
    "hermetic-core": REPO / "packages" / "hermetic-core",
    "hermetic-net": REPO / "packages" / "hermetic-net",
    "hermetic-fs": REPO / "packages" / "hermetic-fs",
    "hermetic-proc": REPO / "packages" / "hermetic-proc",
    "hermetic-imports": REPO / "packages" / "hermetic-imports",
    "hermetic-cli": REPO / "packages" / "hermetic-cli",
    "hermetic-seal": REPO,
    "hermetic-demo-guard": REPO / "tests" / "fixtures" / "thirdparty-guard",
}

#: What each first-party distribution needs at run time (the meta-package needs all).
DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "hermetic-net": ("hermetic-core",),
    "hermetic-fs": ("hermetic-core",),
    "hermetic-proc": ("hermetic-core",),
    "hermetic-imports": ("hermetic-core",),
    "hermetic-cli": ("hermetic-core",),
    "hermetic-demo-guard": ("hermetic-core",),
    "hermetic-seal": (
        "hermetic-core",
        "hermetic-net",
        "hermetic-fs",
        "hermetic-proc",
        "hermetic-imports",
        "hermetic-cli",
    ),
}


def _wheel_prefix(name: str) -> str:
    return name.replace("-", "_") + "-"


class Wheelhouse:
    """A directory of freshly built wheels, each built at most once.

    Args:
        directory: where the wheels go (created if needed).
        projects: extra ``{distribution: project directory}`` entries, for test-only
            projects, on top of :data:`PROJECTS`.
    """

    def __init__(self, directory: Path, projects: dict[str, Path] | None = None) -> None:
        """Use ``directory`` for the wheels."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.projects = {**PROJECTS, **(projects or {})}

    def add_project(self, name: str, path: Path) -> None:
        """Make a test-only project buildable under ``name``."""
        self.projects[name] = Path(path)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _existing(self, name: str) -> Path | None:
        found = sorted(self.directory.glob(_wheel_prefix(name) + "*.whl"))
        return found[-1] if found else None

    def build(self, name: str) -> Path:
        """The wheel of distribution ``name``, built now unless it was already."""
        with self._lock():
            existing = self._existing(name)
            if existing is not None:
                return existing
            project = self.projects[name]
            with tempfile.TemporaryDirectory(dir=self.directory) as out:
                proc = subprocess.run(
                    [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", out],
                    cwd=str(project),
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if proc.returncode != 0:
                    raise RuntimeError(
                        f"building {name} in {project} failed:\n{proc.stdout}\n{proc.stderr}"
                    )
                (built,) = Path(out).glob(_wheel_prefix(name) + "*.whl")
                target = self.directory / built.name
                shutil.move(str(built), str(target))
            return target

    def closure(self, names: Sequence[str]) -> list[str]:
        """``names`` plus everything they depend on, dependencies first."""
        order: list[str] = []

        def visit(name: str) -> None:
            for dep in DEPENDENCIES.get(name, ()):
                visit(dep)
            if name not in order:
                order.append(name)

        for name in names:
            visit(name)
        return order

    def install(self, python: str, names: Sequence[str]) -> None:
        """Install ``names`` (and their dependencies) into the environment of ``python``."""
        for name in self.closure(names):
            self.build(name)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                python,
                "install",
                "--isolated",
                "--no-index",
                "--find-links",
                str(self.directory),
                "--disable-pip-version-check",
                "--no-warn-script-location",
                "-q",
                *names,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"installing {list(names)} failed:\n{proc.stdout}\n{proc.stderr}")

    def venv(self, where: Path, names: Sequence[str] = ()) -> str:
        """A fresh virtual environment (no pip) with ``names`` installed; its interpreter."""
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
        python = str(Path(where) / "bin" / "python")
        if names:
            self.install(python, names)
        return python


def session_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """The wheelhouse of this test session, shared by its pytest-xdist workers."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's directory; each worker has a child of it
    return Wheelhouse(base / "hermetic-wheels")


__all__ = ["DEPENDENCIES", "PROJECTS", "REPO", "Wheelhouse", "session_wheelhouse"]
