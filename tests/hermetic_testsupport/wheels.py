"""Wheels of this repository's distributions, installed into fresh virtual environments.

Nothing here reaches a package index: wheels (and sdists) are built by the test
interpreter's own hatchling without build isolation, and installed with ``--no-index
--find-links`` (the name ``hermetic-seal`` on PyPI belongs to an older project). A
:class:`Wheelhouse` builds each distribution once per test session, also across
pytest-xdist workers (a file lock guards the build), so many tests can make fresh
environments cheaply; ``venvs`` makes several at once, their installs in parallel::

    house = session_wheelhouse(tmp_path_factory)
    python = house.venv(tmp_path / "venv", ["hermetic-cli", "hermetic-net"])
    pythons = house.venvs({tmp_path / "a": ["hermetic-net"], tmp_path / "b": ["hermetic-fs"]})
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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


def _prefix(name: str) -> str:
    return name.replace("-", "_") + "-"


def run_all(
    jobs: Sequence[tuple[Sequence[str], Path | None]], timeout: float = 300
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``(argv, cwd)`` jobs, as many at once as there are cores (builds and pip are
    CPU-bound: on two cores this halves the wall time of a batch)."""
    if not jobs:
        return []

    def one(job: tuple[Sequence[str], Path | None]) -> subprocess.CompletedProcess[str]:
        argv, cwd = job
        return subprocess.run(
            list(argv),
            cwd=None if cwd is None else str(cwd),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(one, jobs))


class Wheelhouse:
    """A directory of freshly built wheels (and sdists), each built at most once.

    Args:
        directory: where the wheels go (created if needed); the sdists, built with them, go
            to its ``sdist`` subdirectory, so that ``--find-links`` sees wheels only.
        projects: extra ``{distribution: project directory}`` entries, for test-only
            projects, on top of :data:`PROJECTS`.
    """

    def __init__(self, directory: Path, projects: dict[str, Path] | None = None) -> None:
        """Use ``directory`` for the wheels."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sdist_directory = self.directory / "sdist"
        self.projects = {**PROJECTS, **(projects or {})}
        self._version: str | None = None

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

    def _existing(self, name: str) -> tuple[Path, Path] | None:
        wheels = sorted(self.directory.glob(_prefix(name) + "*.whl"))
        sdists = sorted(self.sdist_directory.glob(_prefix(name) + "*.tar.gz"))
        return (wheels[-1], sdists[-1]) if wheels and sdists else None

    def _build(self, names: Sequence[str]) -> dict[str, tuple[Path, Path]]:
        """``{name: (wheel, sdist)}``, building those not built yet, in parallel.

        One hatchling process builds both targets of a project (its start-up and the
        hatch-vcs version lookup are most of the cost of a build).
        """
        self.sdist_directory.mkdir(exist_ok=True)
        with self._lock():
            done = {name: self._existing(name) for name in dict.fromkeys(names)}
            todo = [name for name, paths in done.items() if paths is None]
            with tempfile.TemporaryDirectory(dir=self.directory) as tmp:
                build = [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-t", "sdist"]
                jobs = [
                    ([*build, "-d", f"{tmp}/{i}"], self.projects[n]) for i, n in enumerate(todo)
                ]
                for i, (name, proc) in enumerate(zip(todo, run_all(jobs))):
                    if proc.returncode != 0:
                        raise RuntimeError(
                            f"building {name} in {self.projects[name]} failed:"
                            f"\n{proc.stdout}\n{proc.stderr}"
                        )
                    out = Path(tmp, str(i))
                    (wheel,) = out.glob("*.whl")
                    (sdist,) = out.glob("*.tar.gz")
                    paths = (self.directory / wheel.name, self.sdist_directory / sdist.name)
                    shutil.move(str(wheel), str(paths[0]))
                    shutil.move(str(sdist), str(paths[1]))
                    done[name] = paths
        return {name: paths for name, paths in done.items() if paths is not None}

    def build(self, name: str) -> Path:
        """The wheel of distribution ``name``, built now unless it was already."""
        return self._build([name])[name][0]

    def wheels(self, names: Sequence[str]) -> dict[str, Path]:
        """The wheels of ``names``, the missing ones built in parallel."""
        return {name: paths[0] for name, paths in self._build(names).items()}

    def sdists(self, names: Sequence[str]) -> dict[str, Path]:
        """The sdists of ``names`` (built with their wheels)."""
        return {name: paths[1] for name, paths in self._build(names).items()}

    def version(self) -> str:
        """The version hatch-vcs gives this checkout (shared by every first-party build)."""
        if self._version is None:
            proc = subprocess.run(
                [sys.executable, "-m", "hatchling", "version"],
                cwd=str(PROJECTS["hermetic-core"]),
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            self._version = proc.stdout.strip().splitlines()[-1]
        return self._version

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

    def pip_argv(self, python: str, *args: str) -> list[str]:
        """``pip --python python ARGS``, run by the test interpreter's pip, never an index."""
        command, *rest = args
        argv = [sys.executable, "-m", "pip", "--python", python, command, "--isolated"]
        argv += ["--disable-pip-version-check", "-q"]
        if command == "install":
            argv += ["--no-index", "--find-links", str(self.directory), "--no-warn-script-location"]
        return [*argv, *rest]

    def pip(self, python: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``pip ARGS`` for the environment of ``python``; raise if it fails."""
        (proc,) = run_all([(self.pip_argv(python, *args), None)])
        if proc.returncode != 0:
            raise RuntimeError(f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def install(self, python: str, names: Sequence[str]) -> None:
        """Install ``names`` (and their dependencies) into the environment of ``python``."""
        self.wheels(self.closure(names))
        self.pip(python, "install", *names)

    def venv(self, where: Path, names: Sequence[str] = ()) -> str:
        """A fresh virtual environment (no pip) with ``names`` installed; its interpreter."""
        return self.venvs({Path(where): names})[Path(where)]

    def venvs(self, specs: Mapping[Path, Sequence[str]]) -> dict[Path, str]:
        """Fresh virtual environments ``{where: distributions}`` at once; their interpreters.

        The wheels are built first (once), then every environment is created and filled in
        parallel: one ``pip install`` costs 1.5-2.5 s, mostly CPU.
        """
        self.wheels(self.closure([name for names in specs.values() for name in names]))
        base = getattr(sys, "_base_executable", None) or sys.executable
        made = run_all([([base, "-m", "venv", "--without-pip", str(w)], None) for w in specs])
        for where, proc in zip(specs, made):
            if proc.returncode != 0:
                raise RuntimeError(f"creating a venv in {where} failed:\n{proc.stderr}")
        pythons = {Path(where): str(Path(where) / "bin" / "python") for where in specs}
        wanted = [(Path(where), names) for where, names in specs.items() if names]
        installs = run_all([(self.pip_argv(pythons[w], "install", *n), None) for w, n in wanted])
        for (where, names), proc in zip(wanted, installs):
            if proc.returncode != 0:
                raise RuntimeError(
                    f"installing {list(names)} into {where} failed:\n{proc.stdout}\n{proc.stderr}"
                )
        return pythons

    def unpack(self, name: str, where: Path) -> Path:
        """The wheel of ``name`` unpacked into ``where``: a directory for ``PYTHONPATH`` in
        which the distribution is importable and discoverable (its dist-info included)."""
        with zipfile.ZipFile(self.build(name)) as wheel:
            wheel.extractall(where)
        return where


def session_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """The wheelhouse of this test session, shared by its pytest-xdist workers."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's directory; each worker has a child of it
    return Wheelhouse(base / "hermetic-wheels")


__all__ = ["DEPENDENCIES", "PROJECTS", "REPO", "Wheelhouse", "run_all", "session_wheelhouse"]
