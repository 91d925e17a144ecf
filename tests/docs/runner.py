"""Run the Python blocks of one documentation page: ``python runner.py BLOCKS_JSON``.

``BLOCKS_JSON`` is a file holding ``[[source, filename, first line], ...]``. The blocks run
in order in one ``__main__`` namespace; each is compiled under the page's (or included
file's) name at its real line, so a traceback shows the page's own lines. The first block
that raises ends the run with exit code 1, naming the block.

A safety net stays under the examples: an example that would resolve or reach a
non-loopback address while hermetic's network guard is not installed is stopped here (with
a RuntimeError, not a PolicyViolation, so it fails the test) instead of leaving the machine.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
)


def _local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return host is None
    host = host.strip("[]").lower()
    return host in ("", "localhost", "::1", "0.0.0.0", "::") or host.startswith("127.")


def _target(event: str, args: tuple[Any, ...]) -> object:
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1] if len(args) > 1 else None
        # AF_UNIX paths are local; (host, port, ...) tuples name a host
        return address[0] if isinstance(address, tuple) and address else None
    if event == "socket.getnameinfo":
        return args[0][0] if args and isinstance(args[0], tuple) else None
    return args[0] if args else None


def _network_guard_on() -> bool:
    activation = sys.modules.get("hermetic._activation")
    return activation is not None and "network" in activation.ACTIVATION.installed()


def _safety_net(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS:
        return
    host = _target(event, args)
    if _local(host) or _network_guard_on():
        return  # loopback, or hermetic's network guard decides
    raise RuntimeError(f"docs test: {event} to {host!r} outside the network guard")


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        blocks = json.load(f)
    sys.argv = ["docs-example"]
    sys.addaudithook(_safety_net)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for source, filename, line in blocks:
        code = compile("\n" * (line - 1) + source, filename, "exec")
        try:
            exec(code, namespace)
        except BaseException:
            sys.stdout.flush()
            sys.stderr.write(f"docs-test: the block at {filename}:{line} failed:\n")
            traceback.print_exc()
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
