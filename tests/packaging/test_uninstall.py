"""Uninstalling one guard distribution leaves the others (first- and third-party) working."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hermetic_cli import EXIT_USAGE, EXIT_VIOLATION
from hermetic_testsupport.wheels import Wheelhouse

from .conftest import CASES, DEMO, Venv, assert_blocked_for_real, browser, case_spec

pytestmark = pytest.mark.slow


def _guards(env: Venv) -> dict[str, str | None]:
    proc = env.hermetic("--list-guards", "--json")
    assert proc.returncode == 0, proc.stderr
    return {row["name"]: row["error"] for row in json.loads(proc.stdout)}


def test_uninstalling_one_guard_distribution(
    envs: dict[str, Venv], house: Wheelhouse, version: str, tmp_path: Path
) -> None:
    env = envs["uninstall"]  # this test's own: nothing else uses it
    assert _guards(env) == {"network": None, "filesystem": None, "webbrowser": None}
    house.pip(env.python, "uninstall", "-y", "hermetic-net")
    assert env.dists() == {
        "hermetic-core": version,
        "hermetic-cli": version,
        "hermetic-fs": version,
        DEMO: "0.1.0",
    }
    assert _guards(env) == {"filesystem": None, "webbrowser": None}

    fake = browser(tmp_path)
    spec = case_spec(["hermetic-fs", DEMO], tmp_path, ("127.0.0.1", 9))
    spec["refused"] = [("block_network", True)]
    report = env.probe(spec, extra=fake)
    assert report["failures"] == []
    for name in ("hermetic-fs", DEMO):
        assert_blocked_for_real(report["cases"][CASES[name]["label"]], CASES[name])
    kind, message, named = report["refused"]["block_network"]
    assert (kind, named) == ("GuardNotInstalled", "hermetic-net")
    assert "block_network requires hermetic-net: pip install hermetic-net" in message

    marker = tmp_path / "marker"
    write = f"open({str(marker)!r}, 'w').close()"
    proc = env.hermetic("--no-network", "--", "python", "-c", write)
    assert proc.returncode == EXIT_USAGE
    assert "--no-network requires hermetic-net: pip install hermetic-net" in proc.stderr
    proc = env.hermetic("--fs-readonly", "--no-webbrowser", "--", "python", "-c", write)
    assert proc.returncode == EXIT_VIOLATION, proc.stderr
    assert proc.stderr.startswith("hermetic: blocked filesystem: ")
    assert not marker.exists()
