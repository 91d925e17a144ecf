"""Worker of bench_blocker.py: time blocker enter+exit pairs in this one process.

argv[1] is a JSON object: ``{"configs": {name: {"policy": {...}, "kind": ...}},
"rounds": int, "batch_seconds": float}``. Prints ``{name: [[cpu s, wall s, pairs], ...]}``
(or ``{name: "error"}``) as JSON on stdout.
"""

from __future__ import annotations

import json

# Guards patch some modules only once they are imported (socket for the network guard,
# threading for the interpreter guard): a program that uses them has imported them, so the
# worker does too, and each blocker pair installs and removes those patches.
import socket  # noqa: F401
import subprocess  # noqa: F401
import sys
import threading  # noqa: F401
import time
from contextlib import nullcontext
from typing import Any, Callable

from hermetic import hermetic_blocker
from hermetic._activation import ACTIVATION
from hermetic.guards import installed


def _loop(kind: str, policy: dict[str, Any]) -> Callable[[int], None]:
    blocker = hermetic_blocker(**policy)
    if kind == "prebuilt":

        def pairs(n: int) -> None:
            for _ in range(n):
                with blocker:
                    pass

    elif kind == "built-each-time":

        def pairs(n: int) -> None:
            for _ in range(n):
                with hermetic_blocker(**policy):
                    pass

    elif kind == "kept-installed":

        def pairs(n: int) -> None:
            ACTIVATION.keep_installed(True)
            try:
                for _ in range(n):
                    with blocker:
                        pass
            finally:
                ACTIVATION.keep_installed(False)

    elif kind == "nullcontext":
        empty = nullcontext()

        def pairs(n: int) -> None:
            for _ in range(n):
                with empty:
                    pass

    else:
        raise ValueError(kind)
    return pairs


def _timed(pairs: Callable[[int], None], n: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    pairs(n)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    spec = json.loads(sys.argv[1])
    loops: dict[str, Callable[[int], None]] = {}
    sizes: dict[str, int] = {}
    out: dict[str, Any] = {}
    for name, config in spec["configs"].items():
        try:
            pairs = _loop(config["kind"], config["policy"])
            pairs(20)  # first install, plans cached, every code path warm
            if installed():
                raise RuntimeError(f"guards still installed after the blocker: {installed()}")
            n = 20
            while True:  # batch size: about batch_seconds of work
                cpu, _wall = _timed(pairs, n)
                if cpu >= spec["batch_seconds"] / 4 or n >= 2_000_000:
                    break
                n *= 4
            loops[name] = pairs
            sizes[name] = max(20, int(n * spec["batch_seconds"] / max(cpu, 1e-6)))
            out[name] = []
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    names = list(loops)
    for rep in range(spec["rounds"]):
        shift = rep % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            cpu, wall = _timed(loops[name], sizes[name])
            out[name].append([cpu, wall, sizes[name]])
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
