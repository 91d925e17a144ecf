"""Blocker enter+exit: microseconds per ``with blocker: pass`` pair, one guard and every guard.

One worker process times batches of pairs, every configuration once per round, the order
rotating each round; the figure is the median over rounds of process CPU time per pair
(CPU time: another process taking the core does not count), wall time next to it. Target:
under 20 us for one guard (a prebuilt blocker: ``b = hermetic_blocker(...)`` once, then
``with b:`` as often as needed). Informative rows: the blocker built inside the loop (what
``with hermetic_blocker(block_network=True):`` in a hot loop costs), the parking the pytest
plugin uses between tests (``keep_installed``), and an empty ``nullcontext`` for scale.

    python benchmarks/bench_blocker.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from _common import Guards, Row, clean_env, md_table, median, rnd, run_process, tail, verdict

TARGET_US = 20.0
HERE = os.path.dirname(os.path.abspath(__file__))
ONE = "one guard (network), prebuilt blocker"


def _configs(guards: Guards) -> dict[str, Any]:
    """name -> worker config, or a skip reason."""
    every, covered = guards.every_policy()
    every_name = f"every guard ({', '.join(covered)})"
    configs: dict[str, Any] = {"nullcontext (for scale)": {"kind": "nullcontext", "policy": {}}}
    one = guards.policy("network")
    if one is None:
        configs[ONE] = guards.why_not("network")
    else:
        one = {"block_network": True}
        configs[ONE] = {"kind": "prebuilt", "policy": one}
        configs["one guard (network), blocker built each time"] = {
            "kind": "built-each-time",
            "policy": one,
        }
        configs["one guard (network), kept installed (pytest plugin)"] = {
            "kind": "kept-installed",
            "policy": one,
        }
    if covered:
        configs[f"{every_name}, prebuilt blocker"] = {"kind": "prebuilt", "policy": every}
        configs[f"{every_name}, kept installed (pytest plugin)"] = {
            "kind": "kept-installed",
            "policy": every,
        }
    return configs


def run(rounds: int, python: str | None = None, batch_seconds: float = 0.02) -> dict[str, Any]:
    """Time every configuration over ``rounds`` interleaved rounds in one worker process."""
    python = python or sys.executable
    env = clean_env()
    guards = Guards.probe(python, env)
    configs = _configs(guards)
    spec = {
        "configs": {n: c for n, c in configs.items() if not isinstance(c, str)},
        "rounds": rounds,
        "batch_seconds": batch_seconds,
    }
    _w, _c, done = run_process(
        [python, os.path.join(HERE, "_worker_blocker.py"), json.dumps(spec)], env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"blocker worker failed: {tail(done.stderr)}")
    samples = json.loads(done.stdout)
    results: dict[str, Any] = {}
    for name, config in configs.items():
        got = config if isinstance(config, str) else samples[name]
        if isinstance(got, str):
            results[name] = {"skipped": got if isinstance(config, str) else f"failed: {got}"}
            continue
        results[name] = {
            "policy": config["policy"],
            "cpu_us_per_pair": rnd(median(c / n * 1e6 for c, _w, n in got), 2),
            "wall_us_per_pair": rnd(median(w / n * 1e6 for _c, w, n in got), 2),
            "pairs_per_batch": got[0][2] if got else None,
        }
    return {
        "benchmark": "blocker",
        "python": python,
        "rounds": rounds,
        "target_us": TARGET_US,
        "guards": guards.as_dict(),
        "results": results,
    }


def rows(report: dict[str, Any]) -> list[Row]:
    """The one-guard and every-guard figures."""
    out = []
    for name, row in report["results"].items():
        if "prebuilt" not in name:
            continue
        if "skipped" in row:
            out.append(Row("3 blocker enter+exit", name, row["skipped"], "", "n/a"))
            continue
        one = name == ONE
        out.append(
            Row(
                "3 blocker enter+exit",
                name,
                f"{row['cpu_us_per_pair']:.1f} us per pair (wall {row['wall_us_per_pair']:.1f})",
                f"< {TARGET_US:g} us" if one else "(no target)",
                verdict(row["cpu_us_per_pair"] < TARGET_US) if one else "n/a",
            )
        )
    return out


def markdown(report: dict[str, Any]) -> str:
    """The detail table."""
    body = []
    for name, row in report["results"].items():
        if "skipped" in row:
            body.append([name, "", "", row["skipped"]])
        else:
            body.append([name, row["cpu_us_per_pair"], row["wall_us_per_pair"], ""])
    return md_table(["configuration", "CPU us / pair", "wall us / pair", "note"], body)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(markdown(run(args.rounds)))


if __name__ == "__main__":
    main()
