"""Start-up cost of the ``hermetic`` command, side by side with the floor it cannot beat.

The floor is one Python process that execs another (what any bootstrap-mode run is at
least)::

    python -c "import os,sys; os.execv(sys.executable, [sys.executable, '-c', 'pass'])"

and the target is at most 1.5x that, for ``hermetic --no-network -- python -c pass`` (the
bootstrap: hermetic execs the target) and for a console-script target (a pip-style launcher
whose ``#!`` names hermetic's own interpreter: run in hermetic's own process). Both are
also given against ``python -c pass`` and against running the console script directly.
Every configuration runs once per repetition, in an order that rotates each repetition
(interleaved, so a busy machine slows all of them alike); the report gives medians and
ratios to the floor measured in the same run. Everything runs twice: with
``PYTHONDONTWRITEBYTECODE=1`` (no ``.pyc`` written: an editable install recompiles on every
start) and without it.

Run it with the interpreter of an environment where hermetic-cli is installed::

    python benchmarks/bench_cli_startup.py [--repetitions 21] [--json out.json]

or import it: ``run(repetitions) -> dict`` (``benchmarks/run.py`` does, with the others).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from _common import (
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

FLOOR = "import os,sys; os.execv(sys.executable, [sys.executable, '-c', 'pass'])"
SOCKET_FLOOR = "import os,sys; os.execv(sys.executable, [sys.executable, '-c', 'import socket'])"
TARGET_RATIO = 1.5
FLOOR_NAME = "floor (python execs python)"
PLAIN_NAME = "python -c pass"
SCRIPT_NAME = "console script, run directly"
BOOTSTRAP = "hermetic --no-network -- python -c pass"
IN_PROCESS = "hermetic --no-network -- console script"
TARGET_SIDE = "python -c pass, the --no-network bootstrap on PYTHONPATH (the target's share)"
BOOTSTRAP_ENV = "HERMETIC_BENCH_BOOTSTRAP"  # where _configs leaves the bootstrap directory

LAUNCHER = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from hermetic_bench_entry import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""


def _environment(python: str) -> tuple[str, str]:
    """The ``bin`` directory and ``hermetic`` script of the environment of ``python``."""
    bindir = os.path.dirname(os.path.abspath(python))
    script = os.path.join(bindir, "hermetic")
    if not os.path.exists(script):
        raise SystemExit(f"no hermetic command next to {python}: install hermetic-cli there")
    return bindir, script


def _console_script(python: str, workdir: Path) -> str:
    """A console script as pip writes them, for an entry point that does nothing."""
    bindir = workdir / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "hermetic_bench_entry.py").write_text("def main():\n    return 0\n")
    script = bindir / "hermetic-bench-target"
    script.write_text(LAUNCHER.format(python=python))
    script.chmod(0o755)
    return str(script)


def _bootstrap_dir(script: str, env: dict[str, str]) -> str | None:
    """The bootstrap directory ``hermetic --no-network`` puts on the target's PYTHONPATH."""
    code = "import os; print(os.environ['PYTHONPATH'].split(os.pathsep)[0])"
    _w, _c, done = run_process([script, "--no-network", "--", "python", "-c", code], env=env)
    if done.returncode != 0:
        return None
    return done.stdout.decode().strip() or None


def _configs(
    python: str, script: str, workdir: Path, guards: Guards, env: dict[str, str]
) -> dict[str, Any]:
    """name -> argv (or a reason it is skipped)."""
    target = workdir / "target.py"
    target.write_text("pass\n")
    console = _console_script(python, workdir)
    net = guards.has("network")
    skip = guards.why_not("network")
    every, covered = guards.every_flags()
    bootstrap = _bootstrap_dir(script, env) if net else None
    if bootstrap:
        env[BOOTSTRAP_ENV] = bootstrap
    every_name = f"hermetic <every guard: {', '.join(covered)}>"
    return {
        PLAIN_NAME: [python, "-c", "pass"],
        FLOOR_NAME: [python, "-c", FLOOR],
        SCRIPT_NAME: [console],
        # For scale: the network guard's patch module imports socket in the target.
        "python -c 'import socket' (for scale)": [python, "-c", "import socket"],
        "floor, the target importing socket (for scale)": [python, "-c", SOCKET_FLOOR],
        TARGET_SIDE: [python, "-c", "pass"] if bootstrap else skip,
        "hermetic -- python -c pass": [script, "--", "python", "-c", "pass"],
        BOOTSTRAP: [script, "--no-network", "--", "python", "-c", "pass"] if net else skip,
        "hermetic --no-network -- python -c pass (cache miss)": (
            [script, "--no-network", "--", "python", "-c", "pass"] if net else skip
        ),
        IN_PROCESS: [script, "--no-network", "--", console] if net else skip,
        "hermetic --no-network -- target.py (in-process)": (
            [script, "--no-network", "--", str(target)] if net else skip
        ),
        f"{every_name} -- python -c pass": [script, *every, "--", "python", "-c", "pass"],
        f"{every_name} -- console script": [script, *every, "--", console],
    }


def _measure(
    configs: dict[str, Any], env: dict[str, str], repetitions: int, cache: Path
) -> dict[str, Any]:
    runnable = {name: argv for name, argv in configs.items() if isinstance(argv, list)}

    def once(name: str, argv: list[str]) -> Callable[[], float]:
        def sample() -> float:
            run_env = env
            if "cache miss" in name:
                run_env = {**env, "HERMETIC_CACHE_DIR": tempfile.mkdtemp(dir=cache)}
            elif name == TARGET_SIDE:
                run_env = {**env, "PYTHONPATH": env[BOOTSTRAP_ENV]}
            wall, _cpu, done = run_process(argv, env=run_env)
            if done.returncode != 0:
                raise Failed(f"exit {done.returncode}: {tail(done.stderr, 400)}")
            return wall * 1000

        return sample

    samples, failures = interleave(
        {name: once(name, argv) for name, argv in runnable.items()}, repetitions
    )
    floor = median(samples[FLOOR_NAME])
    plain = median(samples[PLAIN_NAME])
    results: dict[str, Any] = {}
    for name, argv in configs.items():
        if not isinstance(argv, list):
            results[name] = {"skipped": argv}
            continue
        if name in failures:
            results[name] = {"skipped": failures[name], "argv": argv}
            continue
        value = median(samples[name])
        results[name] = {
            "argv": argv,
            "median_ms": round(value, 2),
            "min_ms": round(min(samples[name]), 2),
            "ratio_to_floor": round(value / floor, 3),
            "ratio_to_python_c_pass": round(value / plain, 3),
        }
    if SCRIPT_NAME in samples and IN_PROCESS in samples:
        results[IN_PROCESS]["ratio_to_script_direct"] = rnd(
            median(samples[IN_PROCESS]) / median(samples[SCRIPT_NAME])
        )
    return results


def run(repetitions: int, python: str | None = None) -> dict[str, Any]:
    """Measure every configuration ``repetitions`` times; return medians and ratios."""
    python = python or sys.executable
    bindir, script = _environment(python)
    report: dict[str, Any] = {
        "benchmark": "cli_startup",
        "python": python,
        "repetitions": repetitions,
        "target_ratio": TARGET_RATIO,
        "variants": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="hermetic-bench-"))
    try:
        for variant, dont_write in (("PYTHONDONTWRITEBYTECODE=1", True), ("bytecode", False)):
            env = clean_env(
                {
                    "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
                    "HERMETIC_CACHE_DIR": str(workdir / f"cache-{int(dont_write)}"),
                }
            )
            if dont_write:
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            guards = Guards.probe(python, env)
            report["guards"] = guards.as_dict()
            configs = _configs(python, script, workdir, guards, env)
            report["variants"][variant] = _measure(configs, env, repetitions, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def rows(report: dict[str, Any]) -> list[Row]:
    """The summary lines: each target configuration against the floor."""
    out = []
    for variant, results in report["variants"].items():
        for name in (BOOTSTRAP, IN_PROCESS):
            row = results[name]
            what = f"`{name}` ({variant})"
            if "skipped" in row:
                out.append(Row("1 CLI start-up", what, row["skipped"], "", "n/a"))
                continue
            ratio = row["ratio_to_floor"]
            out.append(
                Row(
                    "1 CLI start-up",
                    what,
                    f"{ratio:.2f}x floor ({row['median_ms']:.1f} ms; "
                    f"{row['ratio_to_python_c_pass']:.2f}x `python -c pass`)",
                    f"<= {TARGET_RATIO}x floor",
                    verdict(ratio <= TARGET_RATIO),
                    baseline=f"floor {results[FLOOR_NAME]['median_ms']:.1f} ms",
                )
            )
    return out


def markdown(report: dict[str, Any]) -> str:
    """The detail tables (one per bytecode variant)."""
    parts = []
    for variant, results in report["variants"].items():
        parts.append(f"**{variant}**\n")
        body = []
        for name, row in results.items():
            if "median_ms" not in row:
                body.append([f"`{name}`", "", "", "", row["skipped"]])
            else:
                body.append(
                    [
                        f"`{name}`",
                        row["median_ms"],
                        row["ratio_to_floor"],
                        row["ratio_to_python_c_pass"],
                        "",
                    ]
                )
        parts.append(
            md_table(["configuration", "median ms", "x floor", "x python -c pass", "note"], body)
        )
        parts.append("")
    return "\n".join(parts)


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"hermetic CLI start-up, {report['repetitions']} interleaved repetitions, medians "
        f"({report['python']})"
    ]
    for variant, results in report["variants"].items():
        lines += ["", f"[{variant}]", f"{'configuration':80} {'median ms':>10} {'x floor':>8}"]
        for name, row in results.items():
            if "median_ms" not in row:
                lines.append(f"{name:80} {row['skipped']}")
            else:
                lines.append(f"{name:80} {row['median_ms']:>10.1f} {row['ratio_to_floor']:>8.2f}")
    lines += ["", f"target: {BOOTSTRAP} and {IN_PROCESS} <= {TARGET_RATIO}x the floor"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
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
