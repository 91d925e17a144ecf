"""Start-up cost of the ``hermetic`` command, side by side with the floor it cannot beat.

The floor is one Python process that execs another (what any bootstrap-mode run is at
least)::

    python -c "import os,sys; os.execv(sys.executable, [sys.executable, '-c', 'pass'])"

and the target (issue 7) is ``hermetic --no-network -- python -c pass`` at most 1.5x that.
Every configuration runs once per repetition, in an order that rotates each repetition
(interleaved, so a busy machine slows all of them alike); the report gives medians and
ratios to the floor measured in the same run. Everything runs twice: with
``PYTHONDONTWRITEBYTECODE=1`` (no ``.pyc`` written: an editable install recompiles on every
start) and without it.

Run it with the interpreter of an environment where hermetic-cli is installed::

    python benchmarks/bench_cli_startup.py [--repetitions 21] [--json out.json]

or import it: ``run(repetitions) -> dict``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLOOR = "import os,sys; os.execv(sys.executable, [sys.executable, '-c', 'pass'])"
TARGET_RATIO = 1.5


def _environment(python: str) -> tuple[str, str]:
    """The ``bin`` directory and ``hermetic`` script of the environment of ``python``."""
    bindir = os.path.dirname(os.path.abspath(python))
    script = os.path.join(bindir, "hermetic")
    if not os.path.exists(script):
        raise SystemExit(f"no hermetic command next to {python}: install hermetic-cli there")
    return bindir, script


def _guards(script: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [script, "--list-guards", "--json"], env=env, capture_output=True, text=True, check=True
    )
    return {row["name"]: row for row in json.loads(out.stdout)}


def _configs(python: str, script: str, workdir: Path, guards: dict[str, Any]) -> dict[str, Any]:
    """name -> argv (or a reason it is skipped)."""
    target = workdir / "target.py"
    target.write_text("pass\n")
    network = guards.get("network")
    net_ok = network is not None and network["error"] is None
    skip = "skipped: the network guard does not load here" + (
        f" ({network['error']})" if network else ""
    )
    return {
        "python -c pass": [python, "-c", "pass"],
        "floor (python execs python)": [python, "-c", FLOOR],
        "hermetic -- python -c pass": [script, "--", "python", "-c", "pass"],
        "hermetic --no-network -- python -c pass": (
            [script, "--no-network", "--", "python", "-c", "pass"] if net_ok else skip
        ),
        "hermetic --no-network -- target.py (in-process)": (
            [script, "--no-network", "--", str(target)] if net_ok else skip
        ),
        "hermetic --no-network -- python -c pass (cache miss)": (
            [script, "--no-network", "--", "python", "-c", "pass"] if net_ok else skip
        ),
    }


def _measure(
    configs: dict[str, Any], env: dict[str, str], repetitions: int, cache: Path
) -> dict[str, Any]:
    runnable = {name: argv for name, argv in configs.items() if isinstance(argv, list)}
    samples: dict[str, list[float]] = {name: [] for name in runnable}
    names = list(runnable)
    for name in names:  # warm up: caches filled, files in the page cache
        subprocess.run(runnable[name], env=env, check=True, capture_output=True)
    for rep in range(repetitions):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            run_env = env
            if "cache miss" in name:
                run_env = {**env, "HERMETIC_CACHE_DIR": tempfile.mkdtemp(dir=cache)}
            start = time.perf_counter()
            subprocess.run(runnable[name], env=run_env, check=True, capture_output=True)
            samples[name].append((time.perf_counter() - start) * 1000)
    floor = statistics.median(samples["floor (python execs python)"])
    results: dict[str, Any] = {}
    for name, argv in configs.items():
        if not isinstance(argv, list):
            results[name] = {"skipped": argv}
            continue
        median = statistics.median(samples[name])
        results[name] = {
            "median_ms": round(median, 2),
            "min_ms": round(min(samples[name]), 2),
            "ratio_to_floor": round(median / floor, 3),
        }
    return results


def run(repetitions: int, python: str | None = None) -> dict[str, Any]:
    """Measure every configuration ``repetitions`` times; return medians and ratios."""
    python = python or sys.executable
    bindir, script = _environment(python)
    report: dict[str, Any] = {
        "benchmark": "cli_startup",
        "python": python,
        "version": sys.version.split()[0] if python == sys.executable else None,
        "repetitions": repetitions,
        "target_ratio": TARGET_RATIO,
        "variants": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="hermetic-bench-"))
    try:
        for variant, dont_write in (("PYTHONDONTWRITEBYTECODE=1", True), ("bytecode", False)):
            env = dict(os.environ)
            env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
            env["HERMETIC_CACHE_DIR"] = str(workdir / f"cache-{int(dont_write)}")
            env.pop("PYTHONPATH", None)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            if dont_write:
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            configs = _configs(python, script, workdir, _guards(script, env))
            report["variants"][variant] = _measure(configs, env, repetitions, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"hermetic CLI start-up, {report['repetitions']} interleaved repetitions, medians "
        f"({report['python']})"
    ]
    for variant, results in report["variants"].items():
        lines += ["", f"[{variant}]", f"{'configuration':56} {'median ms':>10} {'x floor':>8}"]
        for name, row in results.items():
            if "skipped" in row:
                lines.append(f"{name:56} {row['skipped']}")
            else:
                lines.append(f"{name:56} {row['median_ms']:>10.1f} {row['ratio_to_floor']:>8.2f}")
    lines += ["", f"target: hermetic --no-network -- python -c pass <= {TARGET_RATIO}x the floor"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=21)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the env")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args()
    report = run(args.repetitions, python=args.python)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
