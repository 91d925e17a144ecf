"""Fixtures of the packaging tests: the session's wheels and sdists, and the environments
installed from them (never from a package index).

Every environment the tests look at without changing is made once per session, and all of
them at once (``envs``): the ``pip install`` runs go in parallel. A test that changes an
environment (``uninstall``) gets one of its own.

The actions each guard distribution must really block are data (:data:`CASES`): run by
``probe.py`` inside the environment, plainly (the action takes effect) and under the guard
(it is refused, and did not take effect).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hermetic.registry import FIRST_PARTY
from hermetic_testsupport.wheels import Wheelhouse, session_wheelhouse

PROBE = Path(__file__).with_name("probe.py")
GUARD_DISTRIBUTIONS = ("hermetic-net", "hermetic-fs", "hermetic-proc", "hermetic-imports")
DEMO = "hermetic-demo-guard"
#: hermetic-cli beside one guard distribution. hermetic-net is left out: tests/cli's
#: ``netonly_env`` is that layout, and tests/cli/test_listing.py and test_refusals.py check it.
CLI_WITH = ("hermetic-fs", "hermetic-proc", "hermetic-imports")

#: Guard names each first-party distribution registers.
GUARDS_OF: dict[str, tuple[str, ...]] = {
    dist: tuple(row[1] for row in FIRST_PARTY if row[0] == dist) for dist in GUARD_DISTRIBUTIONS
}
#: One option (with a value that switches the guard on) of every first-party guard: asked
#: for where the guard's distribution is absent, it must be refused, naming it.
SWITCHES: dict[str, tuple[str, Any, str]] = {
    guard: (names[0], ["colorsys"] if names[0] == "deny_imports" else True, dist)
    for dist, guard, names, _flags in FIRST_PARTY
}
#: One flag per first-party guard, in the form the CLI takes without a value.
FLAGS: dict[str, str] = {
    guard: "--deny-import=colorsys" if flags[0] == "--deny-import" else flags[0]
    for _dist, guard, _names, flags in FIRST_PARTY
}

_MARKER = {
    "setup": "import os, sys\nMARK = VARS['marker']",
    "did": "os.path.exists(MARK)",
    "reset": "os.remove(MARK)",
    "undone": "not os.path.exists(MARK)",
}

#: Per distribution: an action one of its guards blocks, the policy and the CLI flag that
#: switch it on, and the guard expected to refuse. ``VARS`` holds ``marker`` (a path that
#: must not exist afterwards) and ``address`` (a loopback server that counts connections).
CASES: dict[str, dict[str, Any]] = {
    "hermetic-net": {
        "label": "connect",
        "setup": "import socket",
        "action": "socket.create_connection(tuple(VARS['address']), timeout=10).close()",
        "did": "True",  # the server counts
        "undone": "True",
        "policy": {"block_network": True},
        "flags": ["--no-network"],
        "guard": "network",
    },
    "hermetic-fs": {
        "label": "write",
        **_MARKER,
        "action": "open(MARK, 'w').close()",
        "policy": {"fs_readonly": True},
        "flags": ["--fs-readonly"],
        "guard": "filesystem",
    },
    "hermetic-proc": {
        "label": "spawn",
        **_MARKER,
        "action": "import subprocess\n"
        "subprocess.run([sys.executable, '-c', f'open({MARK!r}, \"w\").close()'], check=True)",
        "policy": {"block_subprocess": True},
        "flags": ["--no-subprocess"],
        "guard": "subprocess",
    },
    "hermetic-imports": {
        "label": "import",
        "setup": "import sys",
        "action": "import colorsys",
        "did": "'colorsys' in sys.modules",
        "reset": "del sys.modules['colorsys']",
        "undone": "'colorsys' not in sys.modules",
        "policy": {"deny_imports": ["colorsys"]},
        "flags": ["--deny-import=colorsys"],
        "guard": "imports",
    },
    DEMO: {
        "label": "browser",
        **_MARKER,
        "action": "import webbrowser\nwebbrowser.open('http://example.invalid/page')",
        "policy": {"block_webbrowser": True},
        "flags": ["--no-webbrowser"],
        "guard": "webbrowser",
    },
}


class Venv:
    """An environment made from the session's wheels, and how to run things in it."""

    def __init__(self, python: str, scratch: Path) -> None:
        self.python = python
        self.root = Path(python).parent.parent
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def dists(self) -> dict[str, str]:
        """``{distribution: version}`` of what is installed (from the dist-info names)."""
        (site,) = self.root.glob("lib/python3*/site-packages")
        found = {}
        for meta in site.glob("*.dist-info"):
            name, version = meta.name[: -len(".dist-info")].split("-", 1)
            found[name.replace("_", "-")] = version
        return found

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A clean environment: this venv's bin first on PATH, a private hermetic cache."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HERMETIC"))}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["HERMETIC_CACHE_DIR"] = str(self.scratch / "hermetic-cache")
        env.update(extra or {})
        return env

    def run(
        self, *argv: str, extra: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` with this venv first on PATH, in its scratch directory."""
        return subprocess.run(
            list(argv),
            env=self.environ(extra),
            cwd=str(self.scratch),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def hermetic(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """``hermetic ARGS`` (the console script of this venv)."""
        return self.run(self.bin("hermetic"), *args, **kwargs)

    def probe(
        self, spec: dict[str, Any], python: str | None = None, extra: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Run ``probe.py`` with ``spec`` (by ``python``, default this venv's); its report."""
        proc = self.run(python or self.python, str(PROBE), json.dumps(spec), extra=extra)
        assert proc.returncode == 0, f"probe failed:\n{proc.stdout}\n{proc.stderr}"
        report: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
        return report


def assert_blocked_for_real(outcome: dict[str, Any], case: dict[str, Any]) -> None:
    """A probe's outcome of ``case``: done without the guard, refused by it, not done."""
    assert outcome["plain"] == ["ok"], outcome
    assert outcome["did"], outcome
    assert outcome["guarded"][:2] == ["blocked", case["guard"]], outcome
    assert outcome["undone"], outcome


def case_spec(names: Sequence[str], tmp_path: Path, address: Sequence[Any]) -> dict[str, Any]:
    """A probe spec with the cases of the distributions ``names``."""
    return {
        "cases": [CASES[name] for name in names],
        "vars": {"marker": str(tmp_path / "marker"), "address": list(address)},
    }


def browser(tmp_path: Path) -> dict[str, str]:
    """``BROWSER`` set to a command that creates ``tmp_path / "marker"`` when it runs."""
    script = tmp_path / "fake-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{tmp_path / "marker"}"\n')
    script.chmod(0o755)
    return {"BROWSER": f"{script} %s"}


#: The environments of the packaging tests, made together (see ``envs``).
LAYOUTS: dict[str, tuple[str, ...]] = {
    **{dist: (dist,) for dist in GUARD_DISTRIBUTIONS},
    **{f"cli+{dist}": ("hermetic-cli", dist) for dist in CLI_WITH},
    "seal+demo": ("hermetic-seal", DEMO),
    # changed by test_uninstall only, which is why nothing else may use it
    "uninstall": ("hermetic-cli", "hermetic-net", "hermetic-fs", DEMO),
}


@pytest.fixture(scope="session")
def house(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    return session_wheelhouse(tmp_path_factory)


@pytest.fixture(scope="session")
def version(house: Wheelhouse) -> str:
    """The version of this checkout: every first-party distribution is built at it."""
    return house.version()


@pytest.fixture(scope="session")
def envs(house: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Venv]:
    """Every layout of :data:`LAYOUTS`, installed in parallel; do not change them."""
    base = tmp_path_factory.mktemp("packaging-envs")
    pythons = house.venvs({base / name / "venv": dists for name, dists in LAYOUTS.items()})
    return {name: Venv(pythons[base / name / "venv"], base / name / "work") for name in LAYOUTS}


__all__ = [
    "CASES",
    "CLI_WITH",
    "DEMO",
    "FLAGS",
    "GUARDS_OF",
    "GUARD_DISTRIBUTIONS",
    "LAYOUTS",
    "SWITCHES",
    "Venv",
    "assert_blocked_for_real",
    "browser",
    "case_spec",
]
