"""A real third-party test suite, run plain and under ``hermetic``: time ratio, false positives.

The input is Jinja2's sdist (it ships its tests, ~900 of them: templates, loaders, the
bytecode cache, asyncio and trio, pickling, with warnings turned into errors), at a pinned
version, with the test requirements its sdist pins (``requirements/tests.txt``). It is
fetched from PyPI at run time, never committed: a virtual environment is built once under
``benchmarks/.inputs/`` (gitignored) with the interpreter running this script, the sdist
is unpacked there and the suite runs from it against the package built from it.

The suite then runs, interleaved, as

* ``python -m pytest`` (plain), and
* ``hermetic --no-network --allow-localhost --no-subprocess -- python -m pytest`` (the
  bootstrap in the suite's own interpreter, where hermetic is not installed);

``--no-subprocess`` is left out, and the report says so, while the subprocess guard does
not load. Every run writes a JUnit report; each test's outcome under hermetic is compared
with its outcome in the plain runs, and any difference is a false positive, listed with
the test id. A test whose plain outcome varies between plain runs is reported as flaky,
not as a false positive.

    python benchmarks/bench_suite.py [--repetitions 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from _common import (
    Guards,
    Row,
    bindir,
    clean_env,
    md_table,
    median,
    rnd,
    rotations,
    run_process,
    tail,
    verdict,
)

PROJECT = "jinja2"
VERSION = "3.1.6"
REQUIREMENTS = "requirements/tests.txt"
HERE = Path(__file__).resolve().parent
INPUTS = HERE / ".inputs"
PLAIN = "plain: python -m pytest"
TIMEOUT = 900.0
# Whether the guards are really on in the suite's interpreter: the patched connect is a
# Python function there (it is a C method otherwise). It touches no network either way.
ACTIVE_PROBE = (
    "import socket, sys\n"
    "sys.exit(0 if type(vars(socket.socket)['connect']).__name__ == 'function' else 3)\n"
)


def _python_tag(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return "py" + out.stdout.strip()


def _check(argv: list[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {tail(done.stdout + done.stderr)}")


def _unpack(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        data_filter = getattr(tarfile, "data_filter", None)
        if data_filter is not None:
            tar.extractall(dest, filter=data_filter)
        else:  # an old patch release: refuse anything that would land outside dest
            for member in tar.getmembers():
                target = (dest / member.name).resolve()
                if not str(target).startswith(str(dest.resolve()) + os.sep) or member.issym():
                    raise RuntimeError(f"refusing to unpack {member.name} from {archive}")
            tar.extractall(dest)
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top


def prepare(python: str, log: Any = None) -> tuple[str, Path, bool]:
    """The suite's interpreter and source tree, built if missing; True if built now."""
    home = INPUTS / f"{PROJECT}-{VERSION}-{_python_tag(python)}"
    venv, src, ready = home / "venv", home / "src", home / "ready.json"
    stamp = {"project": PROJECT, "version": VERSION, "requirements": REQUIREMENTS}
    vpython = str(venv / "bin" / "python")
    if ready.exists() and json.loads(ready.read_text()) == stamp and os.path.exists(vpython):
        return vpython, next(src.iterdir()), False
    if log:
        log(f"building the input {PROJECT}=={VERSION} in {home} (once; needs PyPI)")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    # The base interpreter, not a virtual environment's: venv from a venv is fragile.
    base = subprocess.run(
        [python, "-c", "import sys; print(getattr(sys, '_base_executable', sys.executable))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _check([base, "-m", "venv", str(venv)], "creating the suite's venv")
    pip = [vpython, "-m", "pip", "--disable-pip-version-check", "-q"]
    download = home / "download"
    _check(
        [
            *pip,
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{PROJECT}=={VERSION}",
            "-d",
            str(download),
        ],
        f"downloading the {PROJECT} {VERSION} sdist",
    )
    (archive,) = download.glob("*.tar.gz")
    src.mkdir()
    tree = _unpack(archive, src)
    _check([*pip, "install", "-r", str(tree / REQUIREMENTS)], "installing the test requirements")
    _check([*pip, "install", str(tree)], f"installing {PROJECT} from its sdist")
    ready.write_text(json.dumps(stamp))
    return vpython, tree, True


def _outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, first line of the message) from a JUnit XML report."""
    out: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = (child.get("message") or child.text or "").strip().split("\n")[0]
                if child.tag != "skipped":
                    break
        out[test_id] = (outcome, message[:300])
    return out


def run(repetitions: int, python: str | None = None, log: Any = None) -> dict[str, Any]:
    """Run the suite plain and guarded, ``repetitions`` times each, interleaved."""
    python = python or sys.executable
    hermetic = os.path.join(bindir(python), "hermetic")
    report: dict[str, Any] = {
        "benchmark": "third_party_suite",
        "project": f"{PROJECT}=={VERSION}",
        "repetitions": repetitions,
        "notes": [],
    }
    guards = Guards.probe(python, clean_env())
    report["guards"] = guards.as_dict()
    if not guards.has("network"):
        report["skipped_all"] = guards.why_not("network")
        return report
    flags = ["--no-network", "--allow-localhost"]
    if guards.has("subprocess"):
        flags.append("--no-subprocess")
    else:
        why = guards.failed.get("subprocess", {}).get("error", "hermetic-proc is not installed")
        report["notes"].append(
            f"--no-subprocess left out: the subprocess guard does not load here ({why}); "
            "re-run once hermetic-proc is merged"
        )
    guarded = f"hermetic {' '.join(flags)} -- python -m pytest"
    vpython, tree, built = prepare(python, log)
    report["input"] = {"tree": str(tree), "python": vpython, "built_now": built}
    work = Path(tempfile.mkdtemp(prefix="hermetic-bench-suite-"))
    env = clean_env({"HERMETIC_CACHE_DIR": str(work / "cache")})
    pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit2"]
    commands = {PLAIN: [vpython], guarded: [hermetic, *flags, "--", vpython]}
    probe = run_process([hermetic, *flags, "--", vpython, "-c", ACTIVE_PROBE], env=env)[2]
    if probe.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(f"the guards are not active in the suite's interpreter: {probe}")
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    outcomes: dict[str, list[dict[str, tuple[str, str]]]] = {name: [] for name in commands}
    try:
        # One more round than asked: the first (caches, bytecode, page cache) is not timed.
        for rep, order in enumerate(rotations(list(commands), repetitions + 1)):
            for name in order:
                junit = work / f"junit-{len(outcomes[name])}-{name[:5]}.xml"
                argv = [*commands[name], *pytest_args, f"--junitxml={junit}"]
                wall, cpu, done = run_process(argv, env=env, cwd=str(tree), timeout=TIMEOUT)
                if not junit.exists():
                    raise RuntimeError(
                        f"{name}: no JUnit report (exit {done.returncode}): "
                        f"{tail(done.stdout + done.stderr)}"
                    )
                outcomes[name].append(_outcomes(junit))
                if rep:
                    samples[name].append((wall, cpu))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.update(_compare(outcomes, PLAIN, guarded))
    base_wall = median(s[0] for s in samples[PLAIN])
    base_cpu = median(s[1] for s in samples[PLAIN])
    report["results"] = {
        name: {
            "argv": commands[name],
            "wall_s": rnd(median(s[0] for s in rows), 3),
            "cpu_s": rnd(median(s[1] for s in rows), 3),
            "wall_ratio": rnd(median(s[0] for s in rows) / base_wall),
            "cpu_ratio": rnd(median(s[1] for s in rows) / base_cpu),
            "counts": dict(Counter(o for o, _m in outcomes[name][0].values())),
        }
        for name, rows in samples.items()
    }
    report["guarded"] = guarded
    return report


def _compare(
    outcomes: dict[str, list[dict[str, tuple[str, str]]]], plain: str, guarded: str
) -> dict[str, Any]:
    """False positives (outcome differs from every plain run) and flaky tests."""
    reference: dict[str, set[str]] = {}
    for run_ in outcomes[plain]:
        for test_id, (outcome, _m) in run_.items():
            reference.setdefault(test_id, set()).add(outcome)
    flaky = sorted(t for t, seen in reference.items() if len(seen) > 1)
    false_positives: dict[str, Any] = {}
    for run_ in outcomes[guarded]:
        for test_id, (outcome, message) in run_.items():
            seen = reference.get(test_id)
            if seen is None or outcome not in seen:
                false_positives.setdefault(
                    test_id,
                    {"plain": sorted(seen or {"absent"}), "guarded": outcome, "message": message},
                )
    for test_id in reference:
        if any(test_id not in run_ for run_ in outcomes[guarded]):
            false_positives.setdefault(
                test_id, {"plain": sorted(reference[test_id]), "guarded": "absent", "message": ""}
            )
    return {"false_positives": false_positives, "flaky_in_plain_runs": flaky}


def rows(report: dict[str, Any]) -> list[Row]:
    """The wall-time ratio and the false-positive count."""
    fig = f"6 real suite ({report['project']})"
    if "skipped_all" in report:
        return [Row(fig, "the whole figure", report["skipped_all"], "", "n/a")]
    guarded = report["results"][report["guarded"]]
    plain = report["results"][PLAIN]
    fps = report["false_positives"]
    counts = ", ".join(f"{n} {k}" for k, n in sorted(guarded["counts"].items()))
    out = [
        Row(
            fig,
            f"`{report['guarded']}`, wall time",
            f"{guarded['wall_ratio']:.3f}x ({guarded['wall_s']:.2f} s; CPU "
            f"{guarded['cpu_ratio']:.3f}x)",
            "(no numeric target)",
            "n/a",
            baseline=f"plain {plain['wall_s']:.2f} s",
        ),
        Row(
            fig,
            "false positives (outcome differs from the plain runs)",
            f"{len(fps)}" + (f": {', '.join(sorted(fps)[:5])}" if fps else f" ({counts})"),
            "0",
            verdict(not fps),
        ),
    ]
    out += [Row(fig, "note", note, "", "n/a") for note in report["notes"]]
    return out


def markdown(report: dict[str, Any]) -> str:
    """The detail table, the false positives and the notes."""
    if "skipped_all" in report:
        return str(report["skipped_all"])
    body = []
    for name, row in report["results"].items():
        counts = ", ".join(f"{n} {k}" for k, n in sorted(row["counts"].items()))
        body.append([f"`{name}`", row["wall_s"], row["wall_ratio"], row["cpu_s"], counts])
    parts = [md_table(["run", "wall s", "x plain", "CPU s", "outcomes"], body)]
    if report["false_positives"]:
        parts.append("\nFalse positives:\n")
        for test_id, info in sorted(report["false_positives"].items()):
            parts.append(
                f"- `{test_id}`: plain {'/'.join(info['plain'])}, under hermetic "
                f"{info['guarded']}: {info['message']}"
            )
    if report["flaky_in_plain_runs"]:
        parts.append(f"\nFlaky in the plain runs: {', '.join(report['flaky_in_plain_runs'])}")
    parts += [f"\n- {note}" for note in report["notes"]]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    report = run(args.repetitions, log=print)
    print(markdown(report))


if __name__ == "__main__":
    main()
