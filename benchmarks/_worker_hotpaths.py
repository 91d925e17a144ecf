"""Worker of bench_hotpaths.py: time allowed operations unguarded, guarded, and after.

In this one process, in this order (the audit hook, once added, stays for good):

1. ``unguarded``: every operation before hermetic has installed anything (no audit hook);
2. every policy is entered once and left (so that afterwards the audit hook is live and
   every guard has been installed and removed again);
3. rounds of ``guarded`` (inside the operation's blocker) and ``after`` (no blocker active,
   the audit hook live) batches, alternating which comes first.

With ``"kind": "control"`` nothing of hermetic is installed, ever: the "after" batches are
then plain batches taken in the same order, and their ratio to the first ones is what the
order of measurement alone does (the control for the "after" figure). With ``"kind":
"floor"`` nothing of hermetic is installed either, but a no-op audit hook written in C
(``dict.get``) is added where the policies would be entered: its "after" ratio is what
CPython's auditing costs with any hook at all, the least an audit layer can cost. Finally a
counting audit hook tells how many audited events each operation fires.

argv[1] is a JSON object ``{"variants": {op: {variant: policy}}, "batches": int,
"batch_seconds": float, "kind": "guarded" | "control" | "floor"}``. Prints, per operation,
the batch size, the [cpu s, wall s] of each batch per state and the events per call as JSON.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import struct
import sys
import tempfile
import time
from typing import Any, Callable

from hermetic import hermetic_blocker
from hermetic._runtime import RUNTIME
from hermetic.guards import installed

MODULE = "hermetic_bench_mod"
LINGER0 = struct.pack("ii", 1, 0)  # close with a reset: no TIME_WAIT, no port exhaustion


def _operations(tmp: str) -> dict[str, Callable[[int], None]]:
    path = os.path.join(tmp, "data.txt")
    with open(path, "w") as f:
        f.write("x" * 4096)
    with open(os.path.join(tmp, MODULE + ".py"), "w") as f:
        f.write('"""A small module, imported again and again."""\n\nVALUE = 1\n')
    sys.path.insert(0, tmp)
    sys.dont_write_bytecode = False
    __import__(MODULE)  # writes the .pyc: later imports read it, as in an installed package
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    address = server.getsockname()
    data = [{"a": i, "b": [i, str(i)], "c": {"d": (i, i + 1)}} for i in range(200)]
    token = object()

    def open_read(n: int) -> None:
        for _ in range(n):
            with open(path) as f:
                f.read()

    def stat(n: int) -> None:
        for _ in range(n):
            os.stat(path)

    def connect(n: int) -> None:
        for _ in range(n):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            client.connect(address)
            peer, _ = server.accept()
            client.close()
            peer.close()

    def import_(n: int) -> None:
        modules = sys.modules
        for _ in range(n):
            del modules[MODULE]
            __import__(MODULE)

    def id_(n: int) -> None:
        for _ in range(n):
            id(token)

    def deepcopy(n: int) -> None:
        for _ in range(n):
            copy.deepcopy(data)

    return {
        "open_read": open_read,
        "stat": stat,
        "connect": connect,
        "import": import_,
        "id": id_,
        "deepcopy": deepcopy,
    }


def _timed(op: Callable[[int], None], n: int) -> list[float]:
    cpu, wall = time.process_time(), time.perf_counter()
    op(n)
    return [time.process_time() - cpu, time.perf_counter() - wall]


def main() -> None:
    spec = json.loads(sys.argv[1])
    batches, seconds = spec["batches"], spec["batch_seconds"]
    tmp = tempfile.mkdtemp(prefix="hermetic-bench-hot-")
    ops = _operations(tmp)
    wanted = [name for name in ops if name in spec["variants"]]
    blockers = {
        (op, variant): hermetic_blocker(**policy)
        for op in wanted
        for variant, policy in spec["variants"][op].items()
    }
    if RUNTIME.hook_live:
        raise SystemExit("the audit hook is live before anything was installed")
    # Batch sizes from the unguarded state; the same sizes in every state.
    sizes = {}
    for name in wanted:
        n = 10
        while True:
            cpu = _timed(ops[name], n)[0]
            if cpu >= seconds / 4 or n >= 10_000_000:
                break
            n *= 4
        sizes[name] = max(10, int(n * seconds / max(cpu, 1e-6)))
    out: dict[str, Any] = {
        name: {"n": sizes[name], "unguarded": [], "after": [], "guarded": {}} for name in wanted
    }
    for rep in range(batches):
        shift = rep % len(wanted)
        for name in wanted[shift:] + wanted[:shift]:
            out[name]["unguarded"].append(_timed(ops[name], sizes[name]))
    # Every policy once, each operation inside it once: first installs, warm paths, and any
    # operation a policy refuses is reported instead of timed.
    live = {}
    kind = spec.get("kind", "guarded")
    if kind == "floor":
        no_op: Any = {}.get  # called as get(event, args): returns, and calls no Python
        sys.addaudithook(no_op)
    for (name, variant), blocker in blockers.items():
        if kind != "guarded":
            break
        try:
            with blocker:
                ops[name](2)
            live[(name, variant)] = blocker
            out[name]["guarded"][variant] = []
        except Exception as exc:
            out[name]["guarded"][variant] = f"{type(exc).__name__}: {exc}"
    if installed():
        raise SystemExit(f"guards still installed after every blocker exited: {installed()}")
    out["_hook_live_after"] = RUNTIME.hook_live
    out["_subscribed_after"] = list(RUNTIME.subscribed_events())
    for rep in range(batches):
        shift = rep % len(wanted)
        for name in wanted[shift:] + wanted[:shift]:
            states: list[str | None] = [None]  # None: after; else a guarded variant
            states += [v for v in spec["variants"][name] if (name, v) in live]
            if rep % 2:
                states.reverse()
            for variant in states:
                if variant is None:
                    out[name]["after"].append(_timed(ops[name], sizes[name]))
                    continue
                with live[(name, variant)]:
                    sample = _timed(ops[name], sizes[name])
                out[name]["guarded"][variant].append(sample)
    counts: dict[str, int] = {}

    def count(event: str, _args: object) -> None:
        counts[event] = counts.get(event, 0) + 1

    sys.addaudithook(count)
    for name in wanted:
        counts.clear()
        ops[name](100)
        out[name]["events_per_call"] = {e: n / 100 for e, n in counts.items() if n >= 100}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
