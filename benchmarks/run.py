"""hermetic's benchmarks: every figure, next to its target, in one command.

From a fresh clone (hatch creates the ``bench`` environment: Python 3.11, every workspace
member installed editable, pytest and pytest-socket)::

    hatch run bench:run            # the real numbers (several minutes)
    hatch run bench:run --quick    # a smoke run: few repetitions, about a minute

or, in any environment where the workspace packages, pytest and pytest-socket are
installed, ``python benchmarks/run.py [--quick]``. Figures (``--only`` takes their names):

1. ``cli``: ``hermetic --no-network -- python -c pass`` and a console-script target
   against the floor (a Python that execs another) and ``python -c pass``;
2. ``import``: ``import hermetic`` / each guard package against ``python -c pass``;
3. ``blocker``: blocker enter+exit, one guard and every guard;
4. ``hotpaths``: allowed operations guarded / unguarded, and once no blocker is active
   (the audit hook's process-wide cost: ``id()``, ``copy.deepcopy``);
5. ``pytest``: 2000 trivial tests, plain, pytest-socket ``--disable-socket``, hermetic;
6. ``suite``: a third-party test suite (fetched from PyPI into ``benchmarks/.inputs/``),
   plain and under ``hermetic --no-network --allow-localhost --no-subprocess``.

Every guard that is installed and loads is measured; one that does not load is skipped
with a note. Each figure is a median of interleaved repetitions, reported as a ratio to (or
a difference from) its baseline from the same run. The report goes to
``benchmarks/results/`` (gitignored): ``<timestamp>.json`` and ``.md``, and copies named
``latest.json`` / ``latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import bench_blocker
import bench_cli_startup
import bench_hotpaths
import bench_import
import bench_pytest
import bench_suite
from _common import Guards, clean_env, md_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


class Figure:
    """One benchmark: how to run it in the full and the quick mode, and how to report it."""

    def __init__(
        self,
        title: str,
        module: Any,
        full: dict[str, Any],
        quick: dict[str, Any],
        count: str,
    ) -> None:
        self.title = title
        self.module = module
        self.full = full
        self.quick = quick
        self.count = count  # the keyword --repetitions overrides

    def params(self, quick: bool, repetitions: int | None) -> dict[str, Any]:
        chosen = dict(self.quick if quick else self.full)
        if repetitions is not None:
            chosen[self.count] = repetitions
        return chosen


FIGURES: dict[str, Figure] = {
    "cli": Figure(
        "1. CLI start-up", bench_cli_startup, {"repetitions": 21}, {"repetitions": 3}, "repetitions"
    ),
    "import": Figure(
        "2. Library start-up", bench_import, {"repetitions": 41}, {"repetitions": 5}, "repetitions"
    ),
    "blocker": Figure(
        "3. Blocker enter+exit",
        bench_blocker,
        {"rounds": 15, "batch_seconds": 0.02},
        {"rounds": 3, "batch_seconds": 0.005},
        "rounds",
    ),
    "hotpaths": Figure(
        "4. Hot paths under a guard, and after",
        bench_hotpaths,
        {"workers": 9, "batches": 7, "batch_seconds": 0.02},
        {"workers": 2, "batches": 3, "batch_seconds": 0.005},
        "workers",
    ),
    "pytest": Figure(
        "5. pytest, 2000 trivial tests",
        bench_pytest,
        {"repetitions": 15},
        {"repetitions": 2},
        "repetitions",
    ),
    "suite": Figure(
        "6. A real test suite", bench_suite, {"repetitions": 5}, {"repetitions": 1}, "repetitions"
    ),
}


def _log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=HERE, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _machine() -> dict[str, Any]:
    from hermetic.registry import distribution_version

    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "hermetic_core": distribution_version("hermetic-core"),
        "commit": (_git("rev-parse", "--short", "HEAD") or "?") + ("+dirty" if dirty else ""),
    }


def run(
    names: Sequence[str], quick: bool, repetitions: int | None, log: Callable[[str], None] = _log
) -> dict[str, Any]:
    """Run the chosen figures; a figure that crashes is reported and the rest go on."""
    started = time.time()
    report: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "machine": _machine(),
        "figures": {},
    }
    guards = Guards.probe(sys.executable, clean_env())
    report["guards"] = guards.as_dict()
    for note in guards.notes():
        log(f"not measured: {note}")
    for name in names:
        figure = FIGURES[name]
        params = figure.params(quick, repetitions)
        log(f"{figure.title} ({', '.join(f'{k}={v}' for k, v in params.items())})")
        t0 = time.time()
        entry: dict[str, Any] = {"title": figure.title, "params": params}
        try:
            if name == "suite":
                params = {**params, "log": log}
            entry["report"] = figure.module.run(**params)
            entry["rows"] = [r.as_dict() for r in figure.module.rows(entry["report"])]
            entry["markdown"] = figure.module.markdown(entry["report"])
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc()
            log(f"{figure.title} FAILED: {entry['error']}")
        entry["seconds"] = round(time.time() - t0, 1)
        log(f"{figure.title}: {entry['seconds']} s")
        report["figures"][name] = entry
    report["seconds"] = round(time.time() - started, 1)
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def markdown(report: dict[str, Any]) -> str:
    """The whole report as a markdown document: the summary table, then each figure."""
    machine = report["machine"]
    guards = report["guards"]
    lines = [
        "# hermetic benchmarks",
        "",
        f"{report['started']}, {report['mode']} run, {report['seconds']:.0f} s; "
        f"Python {machine['python']}, hermetic-core {machine['hermetic_core']} "
        f"(commit {machine['commit']}); {machine['platform']}, {machine['cpus']} CPUs, "
        f"load average {machine['load_average_start'][0]} at the start, "
        f"{machine['load_average_end'][0]} at the end.",
        "",
        f"Guards measured: {', '.join(guards['loaded']) or 'none'}.",
        "",
    ]
    if guards["failed"]:
        lines += ["Not measured (they do not load here):", ""]
        lines += [f"- {info['error']}" for _name, info in sorted(guards["failed"].items())]
        lines.append("")
    lines += ["## Summary", ""]
    summary = []
    for entry in report["figures"].values():
        if "error" in entry:
            summary.append([entry["title"], "the whole figure", entry["error"], "", "", "FAILED"])
            continue
        for row in entry["rows"]:
            summary.append(
                [
                    row["figure"],
                    row["what"],
                    row["value"],
                    row["baseline"],
                    row["target"],
                    row["verdict"],
                ]
            )
    lines.append(md_table(["figure", "what", "result", "baseline", "target", "verdict"], summary))
    for entry in report["figures"].values():
        lines += ["", f"## {entry['title']}", ""]
        params = ", ".join(f"{k}={v}" for k, v in entry["params"].items())
        lines.append(f"{params}; {entry['seconds']} s.")
        lines.append("")
        if "error" in entry:
            lines += ["```", entry["traceback"].rstrip(), "```"]
        else:
            lines.append(entry["markdown"])
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``<timestamp>.json`` / ``.md`` and ``latest.*`` copies under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{report['mode']}"
    json_path, md_path = out / f"{stamp}.json", out / f"{stamp}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    shutil.copyfile(json_path, out / "latest.json")
    shutil.copyfile(md_path, out / "latest.md")
    return json_path, md_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=f"comma-separated figures to run (default: all): {','.join(FIGURES)}",
    )
    parser.add_argument("--repetitions", type=int, help="override every figure's repetition count")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the report goes")
    parser.add_argument(
        "--pin",
        metavar="CPUS",
        help="run everything on these CPUs only (comma-separated, e.g. 1): steadier on a "
        "machine where other work runs on the remaining cores",
    )
    args = parser.parse_args(argv)
    names = list(FIGURES) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    if args.pin:
        os.sched_setaffinity(0, {int(c) for c in args.pin.split(",")})
    report = run(names, args.quick, args.repetitions)
    json_path, md_path = write(report, args.out)
    print(markdown(report))
    _log(f"wrote {md_path} and {json_path} ({report['seconds']:.0f} s)")
    return 1 if any("error" in e for e in report["figures"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
