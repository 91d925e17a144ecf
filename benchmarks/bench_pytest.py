"""Per-test cost of hermetic's pytest plugin, side by side with pytest-socket.

A temporary project of 2000 trivial tests (20 modules of 100 ``def test_n(): pass``) runs
under each configuration:

* ``pytest (plugins not loaded)``: ``-p no:hermetic -p no:socket``, the floor;
* each plugin installed but unconfigured (what a suite pays for merely having it);
* ``pytest-socket --disable-socket``;
* ``hermetic --hermetic-no-network`` (the policy active during each test's call);
* ``hermetic --hermetic-no-network --hermetic-scope=test`` (setup, call and teardown);
* ``hermetic --hermetic-profile net-hermetic``.

Each plugin is measured with the other one disabled (``-p no:...``), so every overhead
belongs to one plugin.

A tiny timing plugin inside each run measures the session (collection plus the test loop,
without interpreter start-up) in wall-clock and process CPU time. Every configuration runs
once per repetition, in an order that rotates each repetition (interleaved, so a busy
machine slows all of them alike). The report gives medians, the per-test overhead over the
floor, and the ratio of hermetic's overhead to pytest-socket's (the target: at most 1).

Run it with the interpreter of an environment where hermetic-core, hermetic-net and
pytest-socket are installed::

    python benchmarks/bench_pytest.py [--repetitions 15] [--json out.json]

or import it: ``run(repetitions) -> dict`` (``benchmarks/run.py`` does, with the others).
A row with every installed guard (``--hermetic-<flag>`` for each) is added when more than
the network guard loads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from _common import Failed, Guards, Row, clean_env, interleave, md_table, median, tail, verdict

TESTS = 2000
MODULES = 20
TARGET_RATIO = 1.0
FLOOR = "pytest (plugins not loaded)"
SOCKET = "pytest-socket --disable-socket"
HERMETIC = "hermetic --hermetic-no-network"

TIMER = """
import os, time
import pytest

_start = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _start["wall"], _start["cpu"] = time.perf_counter(), time.process_time()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    wall = time.perf_counter() - _start["wall"]
    cpu = time.process_time() - _start["cpu"]
    with open(os.environ["HERMETIC_BENCH_OUT"], "w") as f:
        f.write(f"{wall} {cpu} {session.testscollected}")
"""

NO_SOCKET = ["-p", "no:socket"]
NO_HERMETIC = ["-p", "no:hermetic"]
CONFIGS: dict[str, list[str]] = {
    FLOOR: [*NO_HERMETIC, *NO_SOCKET],
    "hermetic installed, unconfigured": NO_SOCKET,
    "pytest-socket installed, unconfigured": NO_HERMETIC,
    SOCKET: [*NO_HERMETIC, "--disable-socket"],
    HERMETIC: [*NO_SOCKET, "--hermetic-no-network"],
    "hermetic --hermetic-no-network --hermetic-scope=test": [
        *NO_SOCKET,
        "--hermetic-no-network",
        "--hermetic-scope=test",
    ],
    "hermetic --hermetic-profile net-hermetic": [
        *NO_SOCKET,
        "--hermetic-profile",
        "net-hermetic",
    ],
}


def _project(root: Path) -> None:
    (root / "pytest.ini").write_text("[pytest]\n")
    per_module = TESTS // MODULES
    body = "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(per_module))
    for m in range(MODULES):
        (root / f"test_m{m:02d}.py").write_text(body)
    (root / "hermetic_bench_timer.py").write_text(TIMER)


def _configs(python: str, env: dict[str, str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The configurations to run here, and why the others cannot run."""
    has_socket = (
        subprocess.run(
            [python, "-c", "import pytest_socket"], env=env, capture_output=True, check=False
        ).returncode
        == 0
    )
    guards = Guards.probe(python, env)
    configs = dict(CONFIGS)
    flags, covered = guards.every_flags()
    if covered:
        plugin = [f"--hermetic-{f[2:]}" if f.startswith("--") else f for f in flags]
        configs[f"hermetic, every guard ({', '.join(covered)})"] = [*NO_SOCKET, *plugin]
    reasons: dict[str, str] = {}
    for name, args in configs.items():
        if name.startswith("pytest-socket") and not has_socket:
            reasons[name] = "skipped: pytest-socket is not installed"
        if any(arg.startswith("--hermetic") for arg in args) and not guards.has("network"):
            reasons[name] = guards.why_not("network")
    return configs, reasons


def _once(python: str, root: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    out = root / "timing.txt"
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "hermetic_bench_timer"]
    done = subprocess.run(
        [*argv, *args], cwd=root, env={**env, "HERMETIC_BENCH_OUT": str(out)}, capture_output=True
    )
    if done.returncode != 0:
        raise Failed(
            f"pytest {' '.join(args)} failed ({done.returncode}): "
            f"{tail(done.stdout, 600)} {tail(done.stderr, 600)}"
        )
    wall, cpu, collected = out.read_text().split()
    if int(collected) != TESTS:
        raise Failed(f"collected {collected} tests, expected {TESTS}")
    return float(wall), float(cpu)


def run(repetitions: int, python: str | None = None) -> dict[str, Any]:
    """Measure every configuration ``repetitions`` times; return medians and overheads."""
    python = python or sys.executable
    root = Path(tempfile.mkdtemp(prefix="hermetic-bench-pytest-"))
    # Bytecode is written during the warm-up and used afterwards, as in an installed
    # environment: otherwise every run recompiles hermetic's modules (and pytest rewrites
    # every test module), a fixed cost that would be counted per test.
    env = clean_env({"PYTHONPATH": str(root)})
    cpu_samples: dict[str, list[float]] = {}

    def once(args: list[str], name: str) -> Callable[[], float]:
        def sample() -> float:
            wall, cpu = _once(python, root, args, env)
            cpu_samples.setdefault(name, []).append(cpu)
            return wall

        return sample

    try:
        _project(root)
        configs, reasons = _configs(python, env)
        runnable = {n: once(a, n) for n, a in configs.items() if n not in reasons}
        samples, failures = interleave(runnable, repetitions)
        reasons.update(failures)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    # The warm-up's CPU samples are the first of each list: left out.
    medians = {
        name: (median(rows), median(cpu_samples[name][1:])) for name, rows in samples.items()
    }
    floor = medians[FLOOR]
    results: dict[str, Any] = {}
    for name in configs:
        if name in reasons:
            results[name] = {"skipped": reasons[name]}
            continue
        wall, cpu = medians[name]
        results[name] = {
            "argv": configs[name],
            "session_wall_ms": round(wall * 1000, 1),
            "session_cpu_ms": round(cpu * 1000, 1),
            "per_test_overhead_wall_us": round((wall - floor[0]) / TESTS * 1e6, 2),
            "per_test_overhead_cpu_us": round((cpu - floor[1]) / TESTS * 1e6, 2),
        }
    report: dict[str, Any] = {
        "benchmark": "pytest_plugin",
        "python": python,
        "tests": TESTS,
        "repetitions": repetitions,
        "target_ratio": TARGET_RATIO,
        "results": results,
    }
    if all(n in medians for n in (SOCKET, HERMETIC)):
        ratios = {}
        for clock in ("wall", "cpu"):
            socket_cost = results[SOCKET][f"per_test_overhead_{clock}_us"]
            hermetic_cost = results[HERMETIC][f"per_test_overhead_{clock}_us"]
            ratios[clock] = round(hermetic_cost / socket_cost, 2) if socket_cost > 0 else None
        report["ratio_hermetic_to_socket"] = ratios
    return report


def rows(report: dict[str, Any]) -> list[Row]:
    """hermetic's per-test overhead next to pytest-socket's."""
    fig = "5 pytest, 2000 trivial tests"
    res = report["results"]
    out = []
    for name in (SOCKET, HERMETIC):
        if "skipped" in res[name]:
            out.append(Row(fig, f"`{name}`", res[name]["skipped"], "", "n/a"))
    ratios = report.get("ratio_hermetic_to_socket")
    if ratios:
        h, s = res[HERMETIC], res[SOCKET]
        ok = None if ratios["cpu"] is None else ratios["cpu"] <= TARGET_RATIO
        shown = {
            k: "n/a (pytest-socket's overhead is not above the noise)" if v is None else f"{v}x"
            for k, v in ratios.items()
        }
        out.append(
            Row(
                fig,
                f"per-test overhead, `{HERMETIC}` vs `{SOCKET}`",
                f"{h['per_test_overhead_cpu_us']:.1f} vs {s['per_test_overhead_cpu_us']:.1f} "
                f"us CPU: {shown['cpu']} (wall {h['per_test_overhead_wall_us']:.1f} vs "
                f"{s['per_test_overhead_wall_us']:.1f} us: {shown['wall']})",
                f"<= {TARGET_RATIO:g}x pytest-socket",
                verdict(ok),
                baseline=f"plain pytest {res[FLOOR]['session_cpu_ms']:.0f} ms CPU",
            )
        )
    return out


def markdown(report: dict[str, Any]) -> str:
    """The detail table."""
    body = []
    for name, row in report["results"].items():
        if "skipped" in row:
            body.append([f"`{name}`", "", "", "", "", row["skipped"]])
            continue
        body.append(
            [
                f"`{name}`",
                row["session_cpu_ms"],
                row["session_wall_ms"],
                row["per_test_overhead_cpu_us"],
                row["per_test_overhead_wall_us"],
                "",
            ]
        )
    return md_table(
        ["configuration", "CPU ms", "wall ms", "us/test CPU", "us/test wall", "note"], body
    )


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"pytest plugins, {report['tests']} trivial tests, {report['repetitions']} interleaved "
        f"repetitions, medians ({report['python']})",
        "",
        f"{'configuration':56} {'wall ms':>8} {'cpu ms':>8} {'us/test wall':>13} "
        f"{'us/test cpu':>12}",
    ]
    for name, row in report["results"].items():
        if "skipped" in row:
            lines.append(f"{name:56} {row['skipped']}")
            continue
        lines.append(
            f"{name:56} {row['session_wall_ms']:>8.1f} {row['session_cpu_ms']:>8.1f} "
            f"{row['per_test_overhead_wall_us']:>13.2f} {row['per_test_overhead_cpu_us']:>12.2f}"
        )
    ratios = report.get("ratio_hermetic_to_socket")
    if ratios:
        lines += [
            "",
            f"per-test overhead, {HERMETIC} / {SOCKET}: wall {ratios['wall']}, "
            f"cpu {ratios['cpu']} (target: <= {report['target_ratio']})",
        ]
    lines.append("overheads are over the first row (both plugins disabled with -p no:...)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the env")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args()
    report = run(args.repetitions, python=args.python)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
