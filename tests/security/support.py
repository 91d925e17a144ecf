"""Helpers for the known-bypass catalogue (tests/security): batched runs, per-label counters.

A catalogue case is one technique, proven both ways. Running one interpreter per technique
and per side would take minutes, so a module runs each distinct program once per side and
delivery mode (:class:`Batch`), and every technique's test reads its own labels from the
shared runs: ``attempt(label, fn)`` records what happened, a :class:`Ports` listener per
label counts the connections that really arrived, and a fresh directory per run shows what
really was written.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

import pytest

from hermetic_testsupport.runs import MODES, GuardedRun, run_guarded

#: What a body gets on top of its labels: names of paths made for its run.
Paths = dict[str, Path]
#: A policy, or a function building it from the run's paths (``fs_root=paths["root"]``).
PolicySpec = Union[dict[str, Any], Callable[[Paths], dict[str, Any]]]


class Ports:
    """One loopback TCP listener per label, all served by one thread, counting connections."""

    def __init__(self, labels: Iterable[str]) -> None:
        self._selector = selectors.DefaultSelector()
        self.addresses: dict[str, tuple[str, int]] = {}
        self.counts: dict[str, int] = {}
        for label in labels:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(16)
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, label)
            self.addresses[label] = sock.getsockname()
            self.counts[label] = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.02):
                self._accept(key)

    def _accept(self, key: selectors.SelectorKey) -> bool:
        try:
            conn, _peer = key.fileobj.accept()  # type: ignore[union-attr]
        except OSError:  # BlockingIOError: nothing (more) waiting
            return False
        self.counts[key.data] += 1
        conn.close()
        return True

    def settle(self) -> dict[str, int]:
        """Count what is still queued; return the counts by label.

        Call it once the program that connects has ended: a connection it made has
        completed its handshake, so it is in a listener's queue if it was not accepted yet.
        """
        self._stop.set()
        self._thread.join(2)
        for key in list(self._selector.get_map().values()):
            while self._accept(key):
                pass
        return dict(self.counts)

    def __enter__(self) -> Ports:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()


@dataclass
class Outcome:
    """One run of a batch: which side, what the attempts did, what arrived, its paths."""

    name: str
    mode: str
    policy: dict[str, Any]
    run: GuardedRun
    reached: dict[str, int] = field(default_factory=dict)
    paths: Paths = field(default_factory=dict)

    def status(self, label: str) -> str:
        """``blocked``, ``ok`` or ``error`` for ``label``."""
        return self.run.status(label)

    def why(self) -> str:
        """Everything worth seeing when an assertion fails."""
        return f"[{self.name}] stdout={self.run.stdout!r} stderr={self.run.stderr!r}"


class Batch:
    """One program of labelled attempts, run once without the guard and once per policy.

    ``body`` is Python source calling ``attempt(label, fn)``; it can use ``ADDRESSES[label]``
    (a loopback listener for every label in ``servers``) and, with ``tree``, the upper-cased
    names of the paths ``tree(work_directory)`` makes (a fresh directory for every run, so
    one run's writes never meet another's). ``policies`` names each guarded side; every
    one runs in each of ``modes``. The side without a guard runs in-process mode with an
    empty policy. Runs happen on first use and are kept.

    With ``enters=True`` the body enters its blocker itself, as ``hermetic_blocker(**POLICY)``
    (``POLICY`` is ``{}`` on the side without a guard): for what a program does *before*
    the guard exists, such as capturing a reference. That is in-process mode only.
    """

    def __init__(
        self,
        factory: pytest.TempPathFactory,
        bare_python: str,
        body: str,
        policies: dict[str, PolicySpec],
        *,
        modes: Iterable[str] = MODES,
        servers: Iterable[str] = (),
        tree: Callable[[Path], Paths] | None = None,
        cwd: str | None = None,
        enters: bool = False,
    ) -> None:
        self._factory = factory
        self._bare_python = bare_python
        self.body = body
        self.policies = policies
        self.modes = tuple(modes)
        self.servers = tuple(servers)
        self.tree = tree
        self.cwd = cwd
        self.enters = enters
        if enters:
            self.modes = ("inprocess",)
        self._off: Outcome | None = None
        self._on: list[Outcome] | None = None

    def _run(self, name: str, mode: str, spec: PolicySpec) -> Outcome:
        where = self._factory.mktemp("run")
        paths = self.tree(where / "work") if self.tree else {}
        policy = spec(paths) if callable(spec) else dict(spec)
        head = "".join(f"{k.upper()} = {str(v)!r}\n" for k, v in paths.items())
        runner_policy = policy
        if self.enters:
            head += f"POLICY = {policy!r}\n"
            runner_policy = {}
        cwd = paths[self.cwd] if self.cwd else None
        with Ports(self.servers) as ports:
            body = f"ADDRESSES = {ports.addresses!r}\n" + head + self.body
            run = run_guarded(
                mode, runner_policy, body, bare_python=self._bare_python, tmp_path=where, cwd=cwd
            )
            reached = ports.settle()
        return Outcome(name, mode, policy, run, reached, paths)

    @property
    def off(self) -> Outcome:
        """The run without any guard."""
        if self._off is None:
            self._off = self._run("off", "inprocess", {})
        return self._off

    @property
    def on(self) -> list[Outcome]:
        """The guarded runs: every policy in every mode."""
        if self._on is None:
            self._on = [
                self._run(f"{name}/{mode}", mode, spec)
                for name, spec in self.policies.items()
                for mode in self.modes
            ]
        return self._on

    def works_off(self, *labels: str) -> Outcome:
        """Each label succeeds without the guard (and reached its listener, if it has one)."""
        off = self.off
        for label in labels:
            assert off.status(label) == "ok", (label, off.run.outcomes.get(label), off.why())
            if label in off.reached:
                assert off.reached[label] >= 1, (label, off.why())
        return off

    def blocked(self, guard: str, *labels: str) -> list[Outcome]:
        """Each label works without the guard and is refused by ``guard`` in every run."""
        self.works_off(*labels)
        for outcome in self.on:
            for label in labels:
                got = outcome.run.outcomes.get(label)
                assert outcome.status(label) == "blocked", (label, got, outcome.why())
                assert got is not None and got[2] == guard, (label, got)
                assert outcome.reached.get(label, 0) == 0, (label, outcome.why())
        return self.on

    def escapes(self, *labels: str) -> list[Outcome]:
        """Each label still succeeds (and reaches its listener) in every guarded run."""
        for outcome in self.on:
            for label in labels:
                got = outcome.run.outcomes.get(label)
                assert outcome.status(label) == "ok", (label, got, outcome.why())
                if label in outcome.reached:
                    assert outcome.reached[label] >= 1, (label, outcome.why())
        return self.on


# -- the hermetic command of the test environment ------------------------------------------


def hermetic_command(
    args: list[str], tmp_path: Path, *, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``hermetic *args`` from this test environment (its guards: network, filesystem)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HERMETIC"))}
    env["HERMETIC_CACHE_DIR"] = str(tmp_path / "hermetic-cli-cache")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "hermetic_cli", *args],
        env=env,
        cwd=str(cwd or tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def outcomes_of(stdout: str) -> dict[str, list[Any]]:
    """The ``attempt`` records (``@@[...]`` lines) in a program's output, by label."""
    import json

    found = {}
    for line in stdout.splitlines():
        if line.startswith("@@"):
            record = json.loads(line[2:])
            found[record[0]] = record
    return found


# -- options that need a guard this environment may not have ---------------------------------


def require_options(*names: str) -> None:
    """Skip unless a loadable guard declares each option (``block_native``: the imports guard)."""
    from hermetic.registry import registry

    reg = registry()
    for name in names:
        if name not in reg.options:
            pytest.skip(f"no installed guard declares {name!r} (its guard is not installed yet)")
