"""Each guard distribution installed alone, and hermetic-cli beside only one guard.

``pip install hermetic-net`` (or -fs, -proc, -imports) must bring hermetic-core and nothing
else, block for real with its own options, refuse another distribution's options by naming
that distribution, and say where the command line is. With hermetic-cli added, the command
lists exactly that distribution's guards and refuses the flags of the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hermetic_cli import EXIT_USAGE, EXIT_VIOLATION
from hermetic_testsupport.servers import TCPCounter

from .conftest import (
    CASES,
    CLI_WITH,
    FLAGS,
    GUARD_DISTRIBUTIONS,
    GUARDS_OF,
    SWITCHES,
    Venv,
    assert_blocked_for_real,
    case_spec,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("dist", GUARD_DISTRIBUTIONS)
def test_a_guard_distribution_alone(
    envs: dict[str, Venv], version: str, tmp_path: Path, dist: str
) -> None:
    env = envs[dist]
    assert env.dists() == {"hermetic-core": version, dist: version}
    others = [switch for guard, switch in SWITCHES.items() if guard not in GUARDS_OF[dist]]
    with TCPCounter() as server:
        spec = case_spec([dist], tmp_path, server.address)
        spec["refused"] = [(option, value) for option, value, _owner in others]
        report = env.probe(spec)
        hits = server.wait_for(1) if dist == "hermetic-net" else server.count
    assert report["version"] == version
    assert (report["guards"], report["failures"]) == (sorted(GUARDS_OF[dist]), [])
    case = CASES[dist]
    assert_blocked_for_real(report["cases"][case["label"]], case)
    if dist == "hermetic-net":
        assert hits == 1  # the plain connection only
    for option, _value, owner in others:
        kind, message, named = report["refused"][option]
        assert (kind, named) == ("GuardNotInstalled", owner), message
        assert f"requires {owner}: pip install {owner}" in message
    proc = env.run(env.python, "-m", "hermetic", "--list-guards")
    assert proc.returncode == EXIT_USAGE
    assert "the command line is in the hermetic-cli distribution: pip install hermetic-cli" in (
        proc.stderr
    )


def _script(case: dict[str, Any], variables: dict[str, Any]) -> str:
    return f"VARS = {variables!r}\n{case['setup']}\n{case['action']}\nprint('did it')\n"


@pytest.mark.parametrize("dist", CLI_WITH)
def test_the_command_with_one_guard_distribution(
    envs: dict[str, Venv], version: str, tmp_path: Path, dist: str
) -> None:
    env = envs[f"cli+{dist}"]
    assert env.dists() == {"hermetic-core": version, "hermetic-cli": version, dist: version}
    listed = env.hermetic("--list-guards", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = sorted(
        (r["name"], r["distribution"], r["version"], r["error"]) for r in json.loads(listed.stdout)
    )
    assert rows == sorted((guard, dist, version, None) for guard in GUARDS_OF[dist])

    # a flag of a guard that is not installed is refused before the target runs
    marker = tmp_path / "ran"
    touch = f"open({str(marker)!r}, 'w').close()"
    refused = {owner: guard for guard, (_o, _v, owner) in SWITCHES.items() if owner != dist}
    for owner, guard in refused.items():
        proc = env.hermetic(FLAGS[guard], "--", "python", "-c", touch)
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert f"requires {owner}: pip install {owner}" in proc.stderr
        assert not marker.exists()

    # its own flag blocks for real in a foreign interpreter (a `python` target: bootstrap);
    # "did it" is printed only if the action went through (for imports: the module loaded)
    case = CASES[dist]
    code = _script(case, case_spec([dist], tmp_path, ("127.0.0.1", 9))["vars"])
    plain = env.hermetic("--", "python", "-c", code)
    assert (plain.returncode, plain.stdout) == (0, "did it\n"), plain.stderr
    effect = tmp_path / "marker"
    assert effect.exists() == ("MARK" in case["setup"])
    effect.unlink(missing_ok=True)
    blocked = env.hermetic(*case["flags"], "--", "python", "-c", code)
    assert blocked.returncode == EXIT_VIOLATION, blocked.stderr
    assert blocked.stderr.startswith(f"hermetic: blocked {case['guard']}: "), blocked.stderr
    assert blocked.stdout == ""
    assert not effect.exists()
