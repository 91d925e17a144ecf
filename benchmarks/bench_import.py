"""Library start-up: what ``import hermetic`` (and each guard package) adds to a process.

Each configuration is a fresh ``python -c "import X"`` process, measured against
``python -c pass`` in the same interleaved run (the difference of medians is the figure;
target: under 5 ms). The interpreter's own account, ``-X importtime`` (cumulative
microseconds of the top-level import), is given next to it: it is not disturbed by process
start-up noise, but leaves out what happens outside the import system. Informative rows
show the first use of the API (discovering the guards, installing one).

    python benchmarks/bench_import.py [--repetitions 41]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from _common import (
    PACKAGES,
    Failed,
    Guards,
    Row,
    clean_env,
    interleave,
    md_table,
    median,
    rnd,
    run_process,
    tail,
    verdict,
)

TARGET_MS = 5.0
BASELINE = "python -c pass"


def _configs(guards: Guards) -> dict[str, Any]:
    """name -> (code, module whose import time is read, has a target), or a skip reason."""
    configs: dict[str, Any] = {
        BASELINE: ("pass", None, False),
        "import hermetic": ("import hermetic", "hermetic", True),
    }
    for dist, package in PACKAGES.items():
        mine = [n for n, g in guards.loaded.items() if g["distribution"] == dist]
        broken = [n for n, f in guards.failed.items() if f["distribution"] == dist]
        name = f"import {package}"
        if broken:
            configs[name] = f"skipped: {dist}'s guards do not load here ({', '.join(broken)})"
        elif not mine:
            configs[name] = f"skipped: {dist} is not installed"
        else:
            configs[name] = (f"import {package}", package, True)
    configs["from hermetic import hermetic_blocker (informative)"] = (
        "from hermetic import hermetic_blocker",
        None,
        False,
    )
    if guards.has("network"):
        configs["first blocker: block_network, entered and left (informative)"] = (
            "from hermetic import hermetic_blocker\n"
            "with hermetic_blocker(block_network=True):\n    pass",
            None,
            False,
        )
    return configs


def _importtime(stderr: bytes, module: str) -> float | None:
    """Cumulative microseconds of the top-level import of ``module`` in -X importtime output."""
    for line in stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) == 3 and parts[2].rstrip() == " " + module:
            try:
                return float(parts[1])
            except ValueError:
                return None
    return None


def run(repetitions: int, python: str | None = None) -> dict[str, Any]:
    """Measure every configuration ``repetitions`` times."""
    python = python or sys.executable
    env = clean_env()
    guards = Guards.probe(python, env)
    configs = _configs(guards)
    runnable = {n: c for n, c in configs.items() if not isinstance(c, str)}
    importtime: dict[str, list[float]] = {n: [] for n in runnable}

    def once(name: str, code: str, module: str | None) -> Callable[[], float]:
        def sample() -> float:
            wall, _cpu, done = run_process([python, "-c", code], env=env)
            if done.returncode != 0:
                raise Failed(f"exit {done.returncode}: {tail(done.stderr, 400)}")
            if module is not None:
                # The interpreter's own account, from a second process right after.
                _w, _c, timed = run_process([python, "-X", "importtime", "-c", code], env=env)
                found = _importtime(timed.stderr, module)
                if found is not None:
                    importtime[name].append(found)
            return wall * 1000

        return sample

    samples, failures = interleave(
        {n: once(n, code, module) for n, (code, module, _t) in runnable.items()}, repetitions
    )
    base = median(samples[BASELINE])
    results: dict[str, Any] = {}
    for name, config in configs.items():
        if isinstance(config, str):
            results[name] = {"skipped": config}
            continue
        if name in failures:
            results[name] = {"skipped": failures[name]}
            continue
        value = median(samples[name])
        row: dict[str, Any] = {
            "code": config[0],
            "median_ms": rnd(value, 2),
            "added_ms": rnd(value - base, 2),
            "ratio": rnd(value / base),
            "target": config[2],
        }
        if importtime.get(name):
            row["importtime_cumulative_ms"] = rnd(median(importtime[name]) / 1000, 2)
        results[name] = row
    return {
        "benchmark": "library_startup",
        "python": python,
        "repetitions": repetitions,
        "target_added_ms": TARGET_MS,
        "guards": guards.as_dict(),
        "results": results,
    }


def rows(report: dict[str, Any]) -> list[Row]:
    """One summary line per import with a target."""
    out = []
    base = report["results"][BASELINE]["median_ms"]
    for name, row in report["results"].items():
        if "skipped" in row:
            if name.startswith("import "):
                out.append(Row("2 library start-up", f"`{name}`", row["skipped"], "", "n/a"))
            continue
        if not row["target"]:
            continue
        own = row.get("importtime_cumulative_ms")
        value = f"{row['added_ms']:+.2f} ms ({row['ratio']:.2f}x)"
        if own is not None:
            value += f"; -X importtime {own:.2f} ms"
        out.append(
            Row(
                "2 library start-up",
                f'`python -c "{row["code"]}"`',
                value,
                f"< {TARGET_MS:g} ms added",
                verdict(row["added_ms"] < TARGET_MS),
                baseline=f"`python -c pass` {base:.1f} ms",
            )
        )
    return out


def markdown(report: dict[str, Any]) -> str:
    """The detail table."""
    body = []
    for name, row in report["results"].items():
        if "skipped" in row:
            body.append([f"`{name}`", "", "", "", "", row["skipped"]])
        else:
            body.append(
                [
                    f"`{name}`",
                    row["median_ms"],
                    row["added_ms"],
                    row["ratio"],
                    row.get("importtime_cumulative_ms", ""),
                    "",
                ]
            )
    return md_table(
        ["configuration", "median ms", "added ms", "x baseline", "-X importtime ms", "note"], body
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=41)
    args = parser.parse_args()
    print(markdown(run(args.repetitions)))


if __name__ == "__main__":
    main()
