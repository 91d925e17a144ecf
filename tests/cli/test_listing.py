"""--list-guards, --list-profiles, --version and --help, from fresh environments."""

from __future__ import annotations

import json
from pathlib import Path

from hermetic.registry import FIRST_PARTY
from hermetic_testsupport.wheels import Wheelhouse

from .conftest import Env, Runner


def _broken_guard(where: Path) -> Path:
    """A directory for PYTHONPATH holding a distribution whose guard cannot be imported."""
    meta = where / "hermetic_broken-1.2.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: hermetic-broken\nVersion: 1.2\n\n")
    (meta / "entry_points.txt").write_text("[hermetic.guards]\nbroken = no_such_module_x:guard\n")
    return where


def test_list_guards_includes_the_third_party_guard(hermetic_env: Env, run: Runner) -> None:
    proc = run(hermetic_env, "--list-guards")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["GUARD", "DISTRIBUTION", "VERSION", "FLAGS", "SUMMARY"]
    (row,) = [line for line in lines if line.startswith("webbrowser ")]
    assert row.split()[:4] == ["webbrowser", "hermetic-demo-guard", "0.1.0", "--no-webbrowser"]
    assert "Stops programs from opening a web browser." in row
    # every first-party guard is listed too, loaded or with its load error
    names = {line.split()[0] for line in lines[1:]}
    assert {"network", "filesystem", "subprocess", "environment"} <= names
    assert {"imports", "code_exec", "interpreter"} <= names


def test_list_guards_json(hermetic_env: Env, run: Runner) -> None:
    proc = run(hermetic_env, "--list-guards", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    demo = rows["webbrowser"]
    assert demo["distribution"] == "hermetic-demo-guard"
    assert demo["version"] == "0.1.0"
    assert demo["flags"] == ["--no-webbrowser"]
    assert demo["summary"] == "Stops programs from opening a web browser."
    assert demo["error"] is None
    assert demo["options"][0]["name"] == "block_webbrowser"
    for row in rows.values():
        assert set(row) >= {"name", "distribution", "version", "flags", "summary", "error"}
        assert (row["error"] is None) == (row["summary"] is not None)


def test_list_guards_with_only_hermetic_net(netonly_env: Env, run: Runner) -> None:
    rows = json.loads(run(netonly_env, "--list-guards", "--json").stdout)
    assert [(r["name"], r["distribution"]) for r in rows] == [("network", "hermetic-net")]
    text = run(netonly_env, "--list-guards")
    assert text.returncode == 0
    assert [line.split()[0] for line in text.stdout.splitlines()[1:]] == ["network"]


def test_a_guard_that_fails_to_load_is_listed_with_its_error(
    netonly_env: Env, run: Runner, tmp_path: Path
) -> None:
    extra = {"PYTHONPATH": str(_broken_guard(tmp_path / "site"))}
    proc = run(netonly_env, "--list-guards", extra_env=extra)
    assert proc.returncode == 0, proc.stderr
    (row,) = [line for line in proc.stdout.splitlines() if line.startswith("broken ")]
    assert "hermetic-broken" in row and "1.2" in row
    assert "FAILED TO LOAD: ModuleNotFoundError" in row and "no_such_module_x" in row
    rows = {
        r["name"]: r
        for r in json.loads(run(netonly_env, "--list-guards", "--json", extra_env=extra).stdout)
    }
    assert rows["broken"]["error"].startswith("ModuleNotFoundError")
    assert rows["broken"]["flags"] == []


def test_list_profiles(hermetic_env: Env, netonly_env: Env, run: Runner) -> None:
    proc = run(netonly_env, "--list-profiles")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert set(rows) == {"block-all", "net-hermetic", "exec-deny", "fs-readonly", "block-native"}
    assert rows["block-all"].split()[1] == "no"
    assert "pip install" in rows["block-all"]
    data = json.loads(run(hermetic_env, "--list-profiles", "--json").stdout)
    assert {row["name"] for row in data} == set(rows)
    assert all({"description", "options", "available", "error"} <= set(row) for row in data)


def test_version_lists_core_cli_and_every_guard(hermetic_env: Env, run: Runner) -> None:
    proc = run(hermetic_env, "--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("hermetic-cli ")
    assert lines[1].startswith("hermetic-core ")
    assert "webbrowser: hermetic-demo-guard 0.1.0" in lines
    assert any(line.startswith("network: hermetic-net ") for line in lines)
    assert lines[-1].startswith("cpython ")


def test_help_groups_flags_by_guard_with_their_distribution(
    hermetic_env: Env, netonly_env: Env, run: Runner
) -> None:
    proc = run(hermetic_env, "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("usage: hermetic [FLAGS] -- TARGET [ARGS...]")
    for flag in (
        "--profile NAME",
        "--trace",
        "--seal",
        "--list-guards",
        "--list-profiles",
        "--print-bootstrap",
        "--version",
        "--json",
    ):
        assert flag in text
    assert "webbrowser guard (hermetic-demo-guard 0.1.0): Stops programs" in text
    section = text.split("webbrowser guard", 1)[1]
    assert "--no-webbrowser" in section.split("\n\n")[0]
    assert "97" in text and "exit codes:" in text
    # a guard that is not installed is named with the distribution that provides it
    net_only = run(netonly_env, "-h").stdout
    assert "--fs-readonly, --fs-root, --allow-write" in net_only
    assert "requires hermetic-fs: pip install hermetic-fs" in net_only


def test_no_arguments_prints_help(netonly_env: Env, run: Runner) -> None:
    proc = run(netonly_env)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: hermetic")


def test_python_m_hermetic_cli_and_python_m_hermetic(netonly_env: Env, run: Runner) -> None:
    for module in ("hermetic_cli", "hermetic"):
        proc = run(netonly_env, "--list-guards", command=[netonly_env.python, "-m", module])
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[1].split()[:2] == ["network", "hermetic-net"]


def test_the_meta_package_gives_the_command_and_every_first_party_guard(
    wheelhouse: Wheelhouse, tmp_path: Path, run: Runner
) -> None:
    env = Env(wheelhouse.venv(tmp_path / "venv", ["hermetic-seal"]))
    rows = json.loads(run(env, "--list-guards", "--json").stdout)
    assert {(row["name"], row["distribution"]) for row in rows} == {
        (name, dist) for dist, name, _options, _flags in FIRST_PARTY
    }
