"""The guard does not import ``socket``: it patches it when the program first imports it.

Until then the audit layer alone enforces (every way to a socket goes through ``_socket``);
from the import on, the patches are in place, so a refused name is never looked up. Each
run starts a fresh interpreter in which ``socket`` was never imported, in-process (the
body inside ``hermetic_blocker``) and through the bootstrap; counting loopback servers and
a fake resolver installed on ``_socket`` (below the guard, before ``socket`` exists) show
what really got through, and the plain runs show that the same code gets through without
the guard.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from hermetic_net._patch import family_name
from hermetic_testsupport.runs import PRELUDE, GuardedRun
from hermetic_testsupport.servers import TCPCounter

from .conftest import REPORT, NetRun
from .test_dns import _footprints_per_call, _traced_body

BOTH = ("inprocess", "bootstrap")
ALLOWED: dict[str, Any] = {"block_network": True, "allow_domains": ["api.internal.test"]}
#: Modules the guard used to import at start-up (enum too, but the test prelude imports it).
COSTLY = ("socket", "selectors")

#: A resolver on ``_socket`` that answers from ANSWERS and records each name it is asked;
#: ``socket`` is imported afterwards, so its functions call (and re-export) these.
FAKE_RESOLVER = """
import _socket, sys
ANSWERS = {"api.internal.test": "127.0.0.1"}
ASKED = []
def _lookup(host):
    name = host.decode() if isinstance(host, bytes) else str(host)
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, name)
            return name
        except OSError:
            pass
    ASKED.append(name)
    if name not in ANSWERS:
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known (fake)")
    return ANSWERS[name]
def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    sockaddr = (_lookup(host), int(port or 0))
    return [(_socket.AF_INET, type or _socket.SOCK_STREAM, proto or 6, "", sockaddr)]
_socket.getaddrinfo = _getaddrinfo
_socket.gethostbyname = lambda host: _lookup(host)
_socket.gethostbyname_ex = lambda host: (str(host), [], [_lookup(host)])
"""


def costly_report() -> str:
    return f"report('costly', sorted(m for m in {COSTLY!r} if m in sys.modules))\n"


LAZY = (
    FAKE_RESOLVER
    + costly_report()
    + """
attempt("c_before_import", lambda: _socket.socket().connect(S["c"]))

import importlib, threading
def first_import_in_a_thread():
    import socket
    attempt("thread_connect", lambda: socket.create_connection(S["thread"], timeout=5).close())
    attempt("thread_resolve", lambda: socket.getaddrinfo("evilapi.internal.test", 80))
thread = threading.Thread(target=first_import_in_a_thread)
thread.start()
thread.join()

import socket
report("patched", "connect" in vars(socket.socket))
EVIL = "evilapi.internal.test"
attempt("getaddrinfo", lambda: socket.getaddrinfo(EVIL, 80))
attempt("gethostbyname", lambda: socket.gethostbyname(EVIL))
attempt("gethostbyname_ex", lambda: socket.gethostbyname_ex(EVIL))
attempt("create_connection", lambda: socket.create_connection((EVIL, 9), timeout=5))
report("asked", list(ASKED))

importlib.reload(socket)  # a new socket.socket class and new resolver functions
report("patched_after_reload", "connect" in vars(socket.socket))
attempt("reload_resolve", lambda: socket.create_connection((EVIL, 9), timeout=5))
attempt("reload_connect", lambda: socket.socket().connect(S["reload"]))
report("asked_after_reload", list(ASKED))
attempt("allowed_name", lambda: socket.create_connection(
    ("api.internal.test", S["allowed"][1]), timeout=5).close())
"""
)

LAZY_SERVERS = ("c", "thread", "reload", "allowed")
REFUSED_LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection")


def run_served(
    net_run: NetRun, mode: str, policy: dict[str, Any], body: str, names: tuple[str, ...]
) -> tuple[GuardedRun, dict[str, int]]:
    """Run ``body`` with a loopback server per name in ``S``; also return their counts."""
    with ExitStack() as stack:
        servers = {name: stack.enter_context(TCPCounter()) for name in names}
        addresses = {name: server.address for name, server in servers.items()}
        run = net_run(mode, policy, f"S = {addresses!r}\n" + body)
        counts = settle(servers)
    return run, counts


def settle(servers: dict[str, TCPCounter], timeout: float = 0.15) -> dict[str, int]:
    """Each server's count, once every one has seen a connection or ``timeout`` passed.

    The servers wait together, so a run whose connections were all refused costs one
    timeout rather than one per server; a count of zero then means nothing came.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(s.count for s in servers.values()):
        time.sleep(0.01)
    time.sleep(0.05)
    return {name: server.count for name, server in servers.items()}


def value(run: GuardedRun, label: str) -> Any:
    assert label in run.outcomes, (label, run.stdout, run.stderr)
    return run.outcomes[label][2]


@pytest.mark.parametrize("mode", BOTH)
def test_without_the_guard_the_same_code_gets_through(net_run: NetRun, mode: str) -> None:
    run, counts = run_served(net_run, mode, {}, LAZY, LAZY_SERVERS)
    assert value(run, "costly") == []
    for label in ("c_before_import", "thread_connect", "reload_connect", "allowed_name"):
        assert run.status(label) == "ok", (label, run.outcomes[label])
    assert counts == dict.fromkeys(LAZY_SERVERS, 1)
    assert value(run, "patched") is False
    # every refused lookup below really asks the resolver without the guard
    assert value(run, "asked") == ["evilapi.internal.test"] * 5
    assert value(run, "asked_after_reload") == ["evilapi.internal.test"] * 6


@pytest.mark.parametrize("sealed", [False, True], ids=["unsealed", "sealed"])
@pytest.mark.parametrize("mode", BOTH)
def test_socket_is_patched_when_first_imported(net_run: NetRun, mode: str, sealed: bool) -> None:
    policy = {**ALLOWED, "sealed": sealed}
    run, counts = run_served(net_run, mode, policy, LAZY, LAZY_SERVERS)
    assert value(run, "costly") == [], "the guard imported socket before the program did"
    # before the import: the audit layer alone, on _socket
    assert run.status("c_before_import") == "blocked"
    # the first import, in another thread: patched there
    assert run.status("thread_connect") == "blocked"
    assert run.status("thread_resolve") == "blocked"
    assert value(run, "patched") is True
    for label in REFUSED_LOOKUPS:
        assert run.status(label) == "blocked", (label, run.outcomes[label])
        assert run.guard(label) == "network"
    assert value(run, "asked") == []  # refused before the resolver was asked
    # a reloaded module is patched again: still nothing asked
    assert value(run, "patched_after_reload") is True
    assert run.status("reload_resolve") == "blocked"
    assert run.status("reload_connect") == "blocked"
    assert value(run, "asked_after_reload") == []
    # and what the policy allows still works, through the reloaded module
    assert run.status("allowed_name") == "ok", run.outcomes["allowed_name"]
    assert counts == {"c": 0, "thread": 0, "reload": 0, "allowed": 1}


WATCH_REMOVED = """
import sys, _socket
watches = [f for f in sys.meta_path if "hermetic import watch" in repr(f)]
report("watches", len(watches))
for watch in watches:
    sys.meta_path.remove(watch)
import socket
report("patched", "connect" in vars(socket.socket))
attempt("connect", lambda: socket.socket().connect(S["connect"]))
attempt("create_connection", lambda: socket.create_connection(S["create"], timeout=5).close())
attempt("resolve", lambda: socket.getaddrinfo("localhost", 80, socket.AF_INET))
"""


@pytest.mark.parametrize("sealed", [False, True], ids=["unsealed", "sealed"])
@pytest.mark.parametrize("mode", BOTH)
def test_with_the_watch_taken_away_the_audit_layer_still_refuses(
    net_run: NetRun, mode: str, sealed: bool
) -> None:
    if not sealed:  # the same code without the guard
        plain, plain_counts = run_served(net_run, mode, {}, WATCH_REMOVED, ("connect", "create"))
        assert value(plain, "watches") == 0
        for label in ("connect", "create_connection", "resolve"):
            assert plain.status(label) == "ok", (label, plain.outcomes[label])
        assert plain_counts == {"connect": 1, "create": 1}
    policy = {"block_network": True, "sealed": sealed}
    run, counts = run_served(net_run, mode, policy, WATCH_REMOVED, ("connect", "create"))
    assert value(run, "watches") == 1
    assert value(run, "patched") is False  # the program got an unpatched socket module...
    for label in ("connect", "create_connection", "resolve"):
        assert run.status(label) == "blocked", (label, run.outcomes[label])  # ...in vain
    assert counts == {"connect": 0, "create": 0}


COMBINED = """
import sys, asyncio, json, email.utils
watches = [f for f in sys.meta_path if "hermetic import watch" in repr(f)]
report("watches", len(watches))
attempt("remove_watch", lambda: sys.meta_path.remove(watches[0]))
report("watch_kept", bool(watches) and watches[0] in sys.meta_path)
attempt("denied_import", lambda: __import__("wave"))
import socket
report("patched", "connect" in vars(socket.socket))
attempt("connect", lambda: socket.create_connection(S["connect"], timeout=5).close())
async def pair():
    await asyncio.sleep(0)  # the event loop's own socketpair
attempt("asyncio", lambda: asyncio.run(pair()))
attempt("json", lambda: json.loads(json.dumps({"a": email.utils.make_msgid()})))
"""
EVERY: dict[str, Any] = {
    "block_network": True,
    "block_interpreter_mutation": True,
    "deny_imports": ["wave"],
}


@pytest.mark.parametrize("mode", BOTH)
def test_with_the_interpreter_and_imports_guards(net_run: NetRun, mode: str) -> None:
    plain, plain_counts = run_served(net_run, mode, {}, COMBINED, ("connect",))
    assert value(plain, "watches") == 0
    for label in ("denied_import", "connect", "asyncio", "json"):
        assert plain.status(label) == "ok", (label, plain.outcomes[label])
    assert plain_counts == {"connect": 1}
    run, counts = run_served(net_run, mode, EVERY, COMBINED, ("connect",))
    assert value(run, "watches") == 1
    # the interpreter guard protects the watch like any entry of sys.meta_path
    assert run.status("remove_watch") == "blocked"
    assert run.guard("remove_watch") == "interpreter"
    assert value(run, "watch_kept") is True
    assert run.status("denied_import") == "blocked"
    assert run.guard("denied_import") == "imports"
    assert value(run, "patched") is True
    assert run.status("connect") == "blocked"
    assert run.guard("connect") == "network"
    assert run.status("asyncio") == "ok", run.outcomes["asyncio"]
    assert run.status("json") == "ok"
    assert counts == {"connect": 0}


DENIED_SOCKET = """
import sys, _socket
attempt("import", lambda: __import__("socket"))
report("imported", "socket" in sys.modules)
attempt("c_connect", lambda: _socket.socket().connect(S["c"]))
"""


@pytest.mark.parametrize("mode", BOTH)
def test_socket_itself_denied_by_the_imports_guard(net_run: NetRun, mode: str) -> None:
    policy = {"block_network": True, "deny_imports": ["socket"]}
    run, counts = run_served(net_run, mode, policy, DENIED_SOCKET, ("c",))
    assert run.status("import") == "blocked"
    assert run.guard("import") == "imports"
    assert value(run, "imported") is False
    assert run.status("c_connect") == "blocked"
    assert run.guard("c_connect") == "network"
    assert counts == {"c": 0}


# -- layers and the order of installation (hermetic's own interpreter) -------------------

LAYERS = """
import sys
from hermetic import hermetic_blocker as hb
from hermetic.errors import PolicyViolation

def watches():
    return sum("hermetic import watch" in repr(f) for f in sys.meta_path)

start = list(sys.meta_path)
def meta_path_restored():
    return len(sys.meta_path) == len(start) and all(a is b for a, b in zip(sys.meta_path, start))

# 1. a policy changing while socket is not imported: the stricter layer replaces the other
with hb(block_network=True, allow_localhost=True):
    report("outer_watches", watches())
    with hb(block_network=True):
        report("inner_watches", watches())
        import socket
        attempt("strict", lambda: socket.create_connection(S["strict"], timeout=5).close())
    report("back_to_outer_watches", watches())
    attempt("loose", lambda: socket.create_connection(S["loose"], timeout=5).close())
report("layers_gone", [watches(), "connect" in vars(socket.socket), meta_path_restored()])

# 2. two layers at once, both watching, when socket is imported (fresh module)
del sys.modules["socket"]
from hermetic._runtime import RUNTIME, GuardRuntime
from hermetic_net import _patch
loose, strict = GuardRuntime(RUNTIME, "network"), GuardRuntime(RUNTIME, "network")
_patch.install({"block_network": True, "allow_localhost": True}, loose)
_patch.install({"block_network": True}, strict)
report("both_watches", watches())
import socket
attempt("both", lambda: socket.create_connection(S["both"], timeout=5).close())
strict.undo()
attempt("loose_layer", lambda: socket.create_connection(S["loose_layer"], timeout=5).close())
loose.undo()
report("both_gone", [watches(), "connect" in vars(socket.socket), meta_path_restored()])

# 3. with the interpreter guard, installed before and after the network guard
for order in (("interpreter", "network"), ("network", "interpreter")):
    del sys.modules["socket"]
    options = {"interpreter": {"block_interpreter_mutation": True, "trace": True},
               "network": {"block_network": True, "trace": True}}
    with hb(**options[order[0]]):
        with hb(**options[order[1]]):
            import socket
            report(order[0] + "_first_patched", "connect" in vars(socket.socket))
            attempt(order[0] + "_first", lambda: socket.create_connection(S[order[0]],
                                                                             timeout=5).close())
        report(order[0] + "_first_inner_left", watches())
    report(order[0] + "_first_gone", [watches(), "connect" in vars(socket.socket),
                                      meta_path_restored()])

# 4. socket imported before the guard, then reloaded under it: the audit layer refuses
import importlib
with hb(block_network=True):
    report("imported_before_watches", watches())
    importlib.reload(socket)
    report("reloaded_patched", "connect" in vars(socket.socket))
    attempt("reloaded", lambda: socket.socket().connect(S["reloaded"]))
    attempt("reloaded_resolve", lambda: socket.getaddrinfo("localhost", 80, socket.AF_INET))
"""
LAYER_SERVERS = ("strict", "loose", "both", "loose_layer", "interpreter", "network", "reloaded")


def run_code(code: str, tmp_path: Path) -> GuardedRun:
    """Run ``code`` in a fresh interpreter of this environment (no blocker around it)."""
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + REPORT + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=60,
    )
    return GuardedRun.of(proc)


def test_layers_and_the_order_of_installation(tmp_path: Path) -> None:
    with ExitStack() as stack:
        servers = {name: stack.enter_context(TCPCounter()) for name in LAYER_SERVERS}
        addresses = {name: server.address for name, server in servers.items()}
        run = run_code(f"S = {addresses!r}\n" + LAYERS, tmp_path)
        counts = settle(servers)
    assert run.returncode == 0, run.stderr
    # 1.
    assert value(run, "outer_watches") == 1
    assert value(run, "inner_watches") == 1  # the outer layer's watch left with its layer
    assert run.status("strict") == "blocked"
    assert value(run, "back_to_outer_watches") == 0  # socket is imported: patched at once
    assert run.status("loose") == "ok"
    assert value(run, "layers_gone") == [0, False, True]
    # 2.
    assert value(run, "both_watches") == 2
    assert run.status("both") == "blocked"
    assert run.status("loose_layer") == "ok"
    assert value(run, "both_gone") == [0, False, True]
    # 3.
    for first in ("interpreter", "network"):
        assert value(run, first + "_first_patched") is True
        assert run.status(first + "_first") == "blocked"
        assert run.guard(first + "_first") == "network"
        assert value(run, first + "_first_gone") == [0, False, True]
    assert value(run, "interpreter_first_inner_left") == 0
    assert value(run, "network_first_inner_left") == 1  # the network layer is still there
    assert "blocked interpreter" not in run.stderr
    # 4.
    assert value(run, "imported_before_watches") == 0
    assert value(run, "reloaded_patched") is False
    assert run.status("reloaded") == "blocked"
    assert run.guard("reloaded") == "network"
    assert run.status("reloaded_resolve") == "blocked"
    assert counts == {
        "strict": 0,
        "loose": 1,
        "both": 0,
        "loose_layer": 1,
        "interpreter": 0,
        "network": 0,
        "reloaded": 0,
    }


# -- the bootstrap and an in-process blocker in one program, both orders ------------------

CROSSED = """
import sys
from hermetic import hermetic_blocker as hb
start = list(sys.meta_path)
with hb(**INNER):
    import socket
    report("patched", "connect" in vars(socket.socket))
    attempt("connect", lambda: socket.create_connection(S["connect"], timeout=5).close())
report("restored", len(sys.meta_path) == len(start)
       and all(a is b for a, b in zip(sys.meta_path, start)))
"""


@pytest.mark.parametrize(
    ("bootstrap", "inner"),
    [
        ({"block_interpreter_mutation": True}, {"block_network": True}),
        ({"block_network": True}, {"block_interpreter_mutation": True}),
    ],
    ids=["interpreter-then-network", "network-then-interpreter"],
)
def test_bootstrap_and_blocker_together(
    net_run: NetRun, bootstrap: dict[str, Any], inner: dict[str, Any]
) -> None:
    body = f"INNER = {{**{inner!r}, 'trace': True}}\n" + CROSSED
    policy = {**bootstrap, "trace": True}
    run, counts = run_served(net_run, "bootstrap-venv", policy, body, ("connect",))
    assert value(run, "patched") is True
    assert run.status("connect") == "blocked"
    assert run.guard("connect") == "network"
    assert value(run, "restored") is True
    assert counts == {"connect": 0}
    assert "blocked interpreter" not in run.stderr, run.stderr


def test_bootstrap_and_blocker_together_without_a_guard(net_run: NetRun) -> None:
    run, counts = run_served(net_run, "bootstrap-venv", {}, "INNER = {}\n" + CROSSED, ("connect",))
    assert run.status("connect") == "ok"
    assert value(run, "patched") is False
    assert counts == {"connect": 1}


def test_family_names_match_the_socket_enum() -> None:
    for family in range(256):
        try:
            expected = socket.AddressFamily(family).name
        except ValueError:
            expected = str(family)
        assert family_name(family) == expected, family


def test_known_gap_a_socket_module_the_patches_never_reached(
    net_run: NetRun, strace: str, tmp_path: Path
) -> None:
    """Like a bare ``_socket.socket``: its connect by name is refused after the lookup.

    Here the program took the watch off ``sys.meta_path`` before importing ``socket``
    (documented with the other ways to an unpatched module).
    """
    log = tmp_path / "strace.log"
    prefix = [strace, "-f", "-qq", "-o", str(log), "-e", "trace=openat,open,access,faccessat"]
    body = (
        "import sys\n"
        "for f in [f for f in sys.meta_path if 'hermetic import watch' in repr(f)]:\n"
        "    sys.meta_path.remove(f)\n"
        + _traced_body({"unpatched": "socket.socket().connect_ex(('localhost', 9))"})
        + "\nreport('patched', 'connect' in vars(socket.socket))\n"
    )
    run = net_run("inprocess", {"block_network": True}, body, prefix=prefix)
    assert value(run, "patched") is False
    assert run.status("unpatched") == "blocked"  # no connection is made...
    assert _footprints_per_call(log.read_text())["unpatched"] > 0  # ...but the name was looked up
