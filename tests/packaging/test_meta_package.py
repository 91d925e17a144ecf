"""The meta-package hermetic-seal, with the third-party fixture guard installed beside it.

``pip install hermetic-seal hermetic-demo-guard`` must bring every first-party distribution
at the checkout's one version, and the third-party guard must show up everywhere a
first-party one does: the listing, the version report, the help and flags, the in-process
blocker and the bootstrap of an interpreter where hermetic is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hermetic.registry import FIRST_PARTY
from hermetic_cli import EXIT_VIOLATION
from hermetic_testsupport.servers import TCPCounter

from .conftest import (
    CASES,
    DEMO,
    GUARD_DISTRIBUTIONS,
    Venv,
    assert_blocked_for_real,
    browser,
    case_spec,
)

pytestmark = pytest.mark.slow

FIRST_PARTY_DISTS = ("hermetic-core", "hermetic-cli", *GUARD_DISTRIBUTIONS)
URL = "http://example.invalid/page"


def test_the_meta_package_pulls_everything_at_one_version(
    envs: dict[str, Venv], version: str
) -> None:
    env = envs["seal+demo"]
    expected = {dist: version for dist in (*FIRST_PARTY_DISTS, "hermetic-seal")}
    assert env.dists() == {**expected, DEMO: "0.1.0"}
    proc = env.hermetic("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [f"hermetic-cli {version}", f"hermetic-core {version}"]
    assert lines[-1].startswith("cpython ")
    guards = {f"{guard}: {dist} {version}" for dist, guard, _n, _f in FIRST_PARTY}
    assert set(lines[2:-1]) == {*guards, "webbrowser: hermetic-demo-guard 0.1.0"}


def test_the_third_party_guard_shows_up_everywhere(
    envs: dict[str, Venv], version: str, tmp_path: Path, bare_python: str
) -> None:
    env = envs["seal+demo"]
    rows = {row["name"]: row for row in json.loads(env.hermetic("--list-guards", "--json").stdout)}
    assert set(rows) == {guard for _d, guard, _n, _f in FIRST_PARTY} | {"webbrowser"}
    assert all(row["error"] is None for row in rows.values()), rows
    demo = rows["webbrowser"]
    assert (demo["distribution"], demo["version"], demo["flags"]) == (
        DEMO,
        "0.1.0",
        ["--no-webbrowser"],
    )
    helptext = env.hermetic("--help").stdout
    section = helptext.split("webbrowser guard (hermetic-demo-guard 0.1.0):", 1)[1]
    assert section.split("\n\n")[0].count("--no-webbrowser") == 1

    # the flag, both ways, in-process (a .py target) and through the bootstrap (python -c)
    fake = browser(tmp_path)
    marker = tmp_path / "marker"
    script = tmp_path / "open.py"
    script.write_text(f"import webbrowser\nwebbrowser.open({URL!r})\n")
    for target in ([str(script)], ["python", str(script)]):
        plain = env.hermetic("--", *target, extra=fake)
        assert plain.returncode == 0, plain.stderr
        assert marker.read_text() == URL
        marker.unlink()
        blocked = env.hermetic("--no-webbrowser", "--", *target, extra=fake)
        assert blocked.returncode == EXIT_VIOLATION, blocked.stderr
        assert blocked.stderr == f"hermetic: blocked webbrowser: open {URL}\n"
        assert not marker.exists()

    # the blocker and the bootstrap, with every first-party guard's case beside the demo's
    names = [*GUARD_DISTRIBUTIONS, DEMO]
    everything = {key: value for name in names for key, value in CASES[name]["policy"].items()}
    with TCPCounter() as server:
        spec = case_spec(names, tmp_path, server.address)
        spec["profiles"] = ["block-all", "net-hermetic", "exec-deny", "fs-readonly", "block-native"]
        spec["materialize"] = everything
        spec["root"] = str(tmp_path / "bootstrap-cache")
        report = env.probe(spec, extra=fake)
        bare = env.probe(
            {**spec, "mode": "bare"},
            python=bare_python,
            extra={**fake, "PYTHONPATH": report["bootstrap"]},
        )
        hits = server.wait_for(1)
    assert report["version"] == version
    assert report["failures"] == []
    assert set(report["profiles"].values()) == {"ok"}, report["profiles"]
    assert bare["hermetic_importable"] is False
    for name in names:
        case = CASES[name]
        assert_blocked_for_real(report["cases"][case["label"]], case)
        assert bare[case["label"]]["guarded"][:2] == ["blocked", case["guard"]], bare
        assert bare[case["label"]]["undone"], bare
    assert hits == 1  # only the plain connection reached the server
