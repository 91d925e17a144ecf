"""Hot paths a guard keeps allowed: guarded / unguarded, and after every blocker has exited.

Operations: ``open(f).read()`` of a 4 KiB file under read-only, ``os.stat``, a loopback TCP
connect (and accept) under ``block_network`` + ``allow_localhost``, an import (of a small
module with its ``.pyc``, removed from ``sys.modules`` each time) under a deny-list that
does not match it, each also under every installed guard; and two measures of the audit
hook's process-wide cost: ``id()`` (audited: the cost per audited event) and
``copy.deepcopy`` (calls ``id()`` per object).

Each worker process measures every operation unguarded first (no audit hook yet), then
enters and leaves every policy once, then alternates guarded batches (inside the blocker)
with batches after the blocker has exited (the audit hook stays for the rest of a process).
The figures are medians over the workers of each worker's ratio of medians, in process CPU
time. A control worker per repetition takes the same batches in the same order with nothing
installed: the "after" ratio is divided by its ratio, so that what the order of measurement
alone does (the unguarded batches come first) is not counted as the hook's cost. Next to
it, what the hook should cost from the events the operation fires (a counting hook tells
how many) times the hook's price per event (measured on ``id()``), and CPython's floor: a
floor worker per repetition adds a no-op audit hook written in C instead of entering the
policies, so its "after" ratio is what auditing costs with any hook at all. Targets: guarded <=
1.10x unguarded for these syscall-bound operations, and <= 1.02x once no blocker is active.

    python benchmarks/bench_hotpaths.py [--workers 9] [--batches 7]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from _common import (
    POLICIES,
    Guards,
    Row,
    clean_env,
    md_table,
    median,
    rnd,
    run_process,
    tail,
    verdict,
)

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = "_worker_hotpaths.py"
GUARDED_TARGET = 1.10
AFTER_TARGET = 1.02
EVERY = "every guard"
#: operation -> (description, the guard whose policy it runs under, that policy)
OPERATIONS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "open_read": ("`open(f).read()`, 4 KiB", "filesystem", POLICIES["filesystem"]),
    "stat": ("`os.stat(f)`", "filesystem", POLICIES["filesystem"]),
    "connect": (
        "loopback TCP connect + accept",
        "network",
        {"block_network": True, "allow_localhost": True},
    ),
    "import": (
        "import of a small module (.pyc)",
        "imports",
        {"deny_imports": ["hermetic_bench_denied"]},
    ),
    "id": ("`id(obj)` (one audited event)", None, {}),
    "deepcopy": ("`copy.deepcopy` of 200 small dicts", None, {}),
}
SYSCALL_BOUND = ("open_read", "stat", "connect", "import")
CLOCKS = ("cpu", "wall")


def _variants(
    guards: Guards,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]], list[str]]:
    every, covered = guards.every_policy()
    variants: dict[str, dict[str, Any]] = {}
    skipped: dict[str, list[str]] = {}
    for op, (_what, guard, policy) in OPERATIONS.items():
        variants[op] = {}
        if guard is not None:
            name = f"{guard} ({', '.join(policy)})"
            if guards.has(guard):
                variants[op][name] = policy
            else:
                skipped[op] = [name, guards.why_not(guard)]
        if covered:
            variants[op][EVERY] = every
    return variants, skipped, covered


def _worker_ratios(sample: dict[str, Any]) -> dict[str, Any]:
    """One worker's medians and ratios, per operation, per clock."""
    out: dict[str, Any] = {}
    for op, data in sample.items():
        if op.startswith("_"):
            continue
        n = data["n"]
        row: dict[str, Any] = {"guarded": {}, "errors": {}}
        for i, clock in enumerate(CLOCKS):
            unguarded = median(s[i] for s in data["unguarded"]) / n
            row[f"unguarded_ns_{clock}"] = unguarded * 1e9
            if data["after"]:
                after = median(s[i] for s in data["after"]) / n
                row[f"after_ns_{clock}"] = after * 1e9
                row[f"after_ratio_{clock}"] = after / unguarded
            for variant, samples in data["guarded"].items():
                if isinstance(samples, str):
                    row["errors"][variant] = samples
                    continue
                guarded = median(s[i] for s in samples) / n
                got = row["guarded"].setdefault(variant, {})
                got[f"ns_{clock}"] = guarded * 1e9
                got[f"ratio_{clock}"] = guarded / unguarded
                if data["after"]:
                    got[f"ratio_to_after_{clock}"] = guarded / after
        out[op] = row
    return out


def run(
    workers: int, batches: int, python: str | None = None, batch_seconds: float = 0.02
) -> dict[str, Any]:
    """Run ``workers`` worker processes one after another; aggregate their ratios."""
    python = python or sys.executable
    env = clean_env()
    guards = Guards.probe(python, env)
    variants, skipped, covered = _variants(guards)
    report: dict[str, Any] = {
        "benchmark": "hot_paths",
        "python": python,
        "workers": workers,
        "batches": batches,
        "clock": "process CPU time (wall time next to it)",
        "guarded_target": GUARDED_TARGET,
        "after_target": AFTER_TARGET,
        "every_guard": covered,
        "guards": guards.as_dict(),
        "skipped": skipped,
        "results": {},
    }
    if not covered:
        report["results"] = {}
        report["skipped_all"] = "no guard loads here: nothing to measure"
        return report
    spec = {"variants": variants, "batches": batches, "batch_seconds": batch_seconds}
    kinds = ("guarded", "control", "floor")
    ratios: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for rep in range(workers):
        # One worker of each kind per repetition, in an order that rotates.
        for kind in kinds[rep % 3 :] + kinds[: rep % 3]:
            job = json.dumps({**spec, "kind": kind})
            _w, _c, done = run_process([python, os.path.join(HERE, WORKER), job], env=env)
            if done.returncode != 0:
                raise RuntimeError(f"hot-path worker failed: {tail(done.stderr)}")
            sample = json.loads(done.stdout)
            ratios[kind].append(_worker_ratios(sample))
            if kind == "guarded":
                report["hook_live_after_exit"] = sample.get("_hook_live_after")
                report["events_subscribed_after_exit"] = sample.get("_subscribed_after")
                report["events_per_call"] = {
                    op: data["events_per_call"] for op, data in sample.items() if op[0] != "_"
                }
    per_worker, controls, floors = ratios["guarded"], ratios["control"], ratios["floor"]
    per_worker_id = [w["id"] for w in per_worker]
    for op, (what, _guard, _policy) in OPERATIONS.items():
        rows = [w[op] for w in per_worker]
        result: dict[str, Any] = {"what": what, "guarded": {}, "errors": rows[0]["errors"]}
        for key in rows[0]:
            if key.startswith(("unguarded_", "after_")):
                result[key] = rnd(median(r[key] for r in rows), 3)
        for variant in rows[0]["guarded"]:
            result["guarded"][variant] = {
                key: rnd(median(r["guarded"][variant][key] for r in rows), 3)
                for key in rows[0]["guarded"][variant]
            }
        if "after_ns_cpu" in result:
            result["after_added_ns_cpu"] = rnd(
                median(r["after_ns_cpu"] - r["unguarded_ns_cpu"] for r in rows), 1
            )
            # What the hook alone should cost: its per-event price (measured on id()) times
            # the events the operation fires; no timing noise in it.
            events = sum(report["events_per_call"].get(op, {}).values())
            hook_ns = median(r["after_ns_cpu"] - r["unguarded_ns_cpu"] for r in per_worker_id)
            result["after_expected_from_events"] = rnd(
                1 + events * hook_ns / result["unguarded_ns_cpu"], 4
            )
            for clock in CLOCKS:
                control = median(c[op][f"after_ratio_{clock}"] for c in controls)
                result[f"control_ratio_{clock}"] = rnd(control)
                result[f"after_corrected_{clock}"] = rnd(result[f"after_ratio_{clock}"] / control)
                result[f"floor_ratio_{clock}"] = rnd(
                    median(f[op][f"after_ratio_{clock}"] for f in floors)
                )
        report["results"][op] = result
    return report


def rows(report: dict[str, Any]) -> list[Row]:
    """Guarded and after-exit ratios for the syscall-bound operations; the audit-hook cost."""
    fig = "4 hot paths"
    if "skipped_all" in report:
        return [Row(fig, "every operation", report["skipped_all"], "", "n/a")]
    out = []
    for op, (variant, reason) in report["skipped"].items():
        out.append(Row(fig, f"{OPERATIONS[op][0]} under {variant}", reason, "", "n/a"))
    for op in SYSCALL_BOUND:
        res = report["results"][op]
        for variant, got in res["guarded"].items():
            ratio = got["ratio_cpu"]
            out.append(
                Row(
                    fig,
                    f"{res['what']} under {variant}",
                    f"{ratio:.3f}x (wall {got['ratio_wall']:.3f}x)",
                    f"<= {GUARDED_TARGET:.2f}x",
                    verdict(ratio <= GUARDED_TARGET),
                    baseline=f"unguarded {res['unguarded_ns_cpu'] / 1000:.2f} us",
                )
            )
        for variant, error in res["errors"].items():
            out.append(Row(fig, f"{res['what']} under {variant}", f"refused: {error}", "", "n/a"))
        if "after_ratio_cpu" in res:
            ratio = res["after_ratio_cpu"]
            events = sum(report["events_per_call"].get(op, {}).values())
            out.append(
                Row(
                    fig,
                    f"{res['what']}, after every blocker exited (audit hook live)",
                    f"{ratio:.3f}x (wall {res['after_ratio_wall']:.3f}x; order control "
                    f"{res['control_ratio_cpu']:.3f}x; from its {events:g} audited events "
                    f"x the hook's cost per event: {res['after_expected_from_events']:.3f}x; "
                    f"CPython's floor, a no-op C hook: {res['floor_ratio_cpu']:.3f}x)",
                    f"<= {AFTER_TARGET:.2f}x",
                    verdict(ratio <= AFTER_TARGET),
                    baseline=f"unguarded {res['unguarded_ns_cpu'] / 1000:.2f} us",
                )
            )
    ident = report["results"]["id"]
    if "after_added_ns_cpu" in ident:
        out.append(
            Row(
                fig,
                "audit hook, per audited event (`id()`), no blocker active",
                f"+{ident['after_added_ns_cpu']:.0f} ns ({ident['after_ratio_cpu']:.1f}x)",
                "documented: ~500-650 ns",
                "n/a",
                baseline=f"unhooked {ident['unguarded_ns_cpu']:.0f} ns",
            )
        )
    deep = report["results"]["deepcopy"]
    if "after_ratio_cpu" in deep:
        out.append(
            Row(
                fig,
                "`copy.deepcopy`, no blocker active (audit hook live)",
                f"{deep['after_ratio_cpu']:.2f}x",
                "documented: ~2x",
                "n/a",
                baseline=f"unhooked {deep['unguarded_ns_cpu'] / 1000:.0f} us",
            )
        )
    return out


def markdown(report: dict[str, Any]) -> str:
    """The detail table: ns per operation in each state, and the ratios."""
    if "skipped_all" in report:
        return str(report["skipped_all"])
    body = []
    for _op, res in report["results"].items():
        body.append(
            [
                res["what"],
                "unguarded",
                res["unguarded_ns_cpu"],
                res["unguarded_ns_wall"],
                1.0,
            ]
        )
        for variant, got in res["guarded"].items():
            body.append(["", f"under {variant}", got["ns_cpu"], got["ns_wall"], got["ratio_cpu"]])
        for variant, error in res["errors"].items():
            body.append(["", f"under {variant}: refused ({error})", "", "", ""])
        if "after_ns_cpu" in res:
            body.append(
                [
                    "",
                    "after every blocker exited",
                    res["after_ns_cpu"],
                    res["after_ns_wall"],
                    res["after_ratio_cpu"],
                ]
            )
            body.append(["", "order control (no hook ever)", "", "", res["control_ratio_cpu"]])
            body.append(
                [
                    "",
                    "floor: a no-op audit hook in C, nothing of hermetic",
                    "",
                    "",
                    res["floor_ratio_cpu"],
                ]
            )
    table = md_table(["operation", "state", "CPU ns / op", "wall ns / op", "x unguarded"], body)
    events = "; ".join(
        f"{OPERATIONS[op][0]}: {', '.join(f'{e} x{n:g}' for e, n in got.items()) or 'none'}"
        for op, got in report.get("events_per_call", {}).items()
    )
    table += f"\n\nAudited events per call: {events}."
    notes = [
        f"- {OPERATIONS[op][0]} under {variant}: {reason}"
        for op, (variant, reason) in report["skipped"].items()
    ]
    return table + ("\n\n" + "\n".join(notes) if notes else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workers", type=int, default=9)
    parser.add_argument("--batches", type=int, default=7)
    args = parser.parse_args()
    report = run(args.workers, args.batches)
    print(markdown(report))


if __name__ == "__main__":
    main()
