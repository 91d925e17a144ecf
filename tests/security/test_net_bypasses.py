"""Known ways around the network guard, each proven both ways (the catalogue's network rows).

Every case first shows the trick really works without the guard (a loopback listener counts
the connection, a name really resolves), then that the guard stops it, in-process and in the
bootstrap wherever both make sense. Cases marked ``residual`` pin what the guard does NOT
stop, as documented in docs/guards/network.md: they assert that the trick still escapes, so
if one starts failing the documentation must change with it.
"""

from __future__ import annotations

import _socket
import ctypes
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import pytest
from security.support import Batch, require_options

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import GuardedRun
from hermetic_testsupport.servers import TCPCounter, UDPCounter

Guarded = Callable[..., GuardedRun]
BLOCK: dict[str, Any] = {"block_network": True}
SEALED: dict[str, Any] = {**BLOCK, "sealed": True}


@contextmanager
def reaches(expected: int, host: str = "127.0.0.1") -> Iterator[TCPCounter]:
    """A loopback server that must have seen exactly ``expected`` connections at the end."""
    with TCPCounter(host) as server:
        yield server
        assert server.wait_for(expected, timeout=1.0 if expected else 0.2) == expected


def both_ways(guarded: Guarded, mode: str, policy: dict[str, Any], body: str, label: str) -> None:
    """``body`` reaches its server without the guard and is refused by it under ``policy``."""
    with reaches(1) as server:
        plain = guarded(mode, {}, f"ADDRESS = {server.address!r}\n" + body)
        assert plain.status(label) == "ok", plain.stdout + plain.stderr
    with reaches(0) as server:
        run = guarded(mode, policy, f"ADDRESS = {server.address!r}\n" + body)
        assert run.status(label) == "blocked", run.stdout + run.stderr
        assert run.guard(label) == "network"


# -- references taken before the guard existed (in-process only: in the bootstrap the
# -- guard is installed before the program's first line) ---------------------------------


@pytest.mark.bypass(
    "network", "socket class captured before the guard", verdict="blocked", layer="patch+audit"
)
def test_a_socket_class_captured_before_the_blocker() -> None:
    from socket import socket as captured

    with reaches(1) as server:
        captured().connect(server.address)
    with reaches(0) as server, hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation):
        captured().connect(server.address)


@pytest.mark.bypass(
    "network",
    "unbound C method captured before the guard, on a socket made before it",
    verdict="blocked",
    layer="audit",
)
def test_an_unbound_c_method_on_a_socket_made_before_the_blocker() -> None:
    connect = _socket.socket.connect
    with reaches(1) as server:
        connect(socket.socket(), server.address)
    sock = socket.socket()
    with reaches(0) as server, hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation):
        connect(sock, server.address)
    sock.close()


@pytest.mark.bypass(
    "network", "resolver functions captured before the guard", verdict="blocked", layer="audit"
)
def test_resolver_functions_captured_before_the_blocker() -> None:
    gai, byname, byname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex
    lookups: list[Callable[[], object]] = [
        lambda: gai("localhost", 80),
        lambda: byname("localhost"),
        lambda: byname_ex("localhost"),
    ]
    for lookup in lookups:
        assert lookup()
    with hermetic_blocker(**BLOCK):
        for lookup in lookups:
            with pytest.raises(PolicyViolation, match="resolve localhost"):
                lookup()


# -- the program sidesteps or undoes the patches while the guard is on --------------------
# One program, run without the guard, then unsealed and sealed in both delivery modes. The
# tricks that undo patches come last, and every one of them is judged by the audit layer
# alone, so each label proves its own point whatever the labels before it did.

SIDESTEPS = """
import _socket, builtins, gc, importlib, importlib.util, socket, sys, threading, types

def in_a_thread():
    failures = []
    def go():
        try:
            socket.create_connection(ADDRESSES["thread"], timeout=5).close()
        except BaseException as exc:
            failures.append(exc)
    worker = threading.Thread(target=go)
    worker.start()
    worker.join()
    if failures:
        raise failures[0]
attempt("thread", in_a_thread)

attempt("c_module", lambda: _socket.socket().connect(ADDRESSES["c_module"]))

def from_fd():
    fresh = socket.socket()
    socket.fromfd(fresh.fileno(), socket.AF_INET, socket.SOCK_STREAM).connect(ADDRESSES["fromfd"])
attempt("fromfd", from_fd)

attempt("adopted_fd", lambda: socket.socket(fileno=socket.socket().detach()).connect(
    ADDRESSES["adopted_fd"]))

def fresh_socket_module():
    # Executed the way an import executes it: socket.py adds its enums to sys.modules[__name__].
    saved = sys.modules["socket"]
    spec = importlib.util.find_spec("socket")
    module = sys.modules["socket"] = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules["socket"] = saved
    return module

def via_builtins():
    fresh = fresh_socket_module()
    real_import = builtins.__import__
    def handing_out_a_fresh_socket(name, *args, **kwargs):
        return fresh if name == "socket" else real_import(name, *args, **kwargs)
    namespace = {
        "__builtins__": {**vars(builtins), "__import__": handing_out_a_fresh_socket},
        "A": ADDRESSES["builtins"],
    }
    exec("import socket\\nsocket.create_connection(A, timeout=5).close()", namespace)
attempt("builtins", via_builtins)

def via_sys_modules():
    saved = sys.modules["socket"]
    sys.modules["socket"] = fresh_socket_module()
    try:
        import socket as replaced
        assert replaced is not saved
        replaced.create_connection(ADDRESSES["sys_modules"], timeout=5).close()
    finally:
        sys.modules["socket"] = saved
attempt("sys_modules", via_sys_modules)

def deleted():
    if "connect" in vars(socket.socket):
        del socket.socket.connect  # the patch: what is left is the inherited C method
    socket.socket().connect(ADDRESSES["deleted"])
attempt("deleted", deleted)

def restored():
    socket.socket.connect = _socket.socket.connect
    socket.socket().connect(ADDRESSES["restored"])
attempt("restored", restored)

def through_gc():
    for obj in gc.get_objects():
        if type(obj).__name__ == "_Patch":
            obj.live = False  # every patch layer passes calls straight through
    wrapper = socket.getaddrinfo
    for obj in gc.get_objects():
        if (type(obj) is types.FunctionType and obj is not wrapper
                and obj.__name__ == "getaddrinfo" and obj.__code__.co_filename == socket.__file__):
            socket.getaddrinfo = obj  # the original, found among the patch's references
through_gc()
attempt("gc_connect", lambda: socket.create_connection(ADDRESSES["gc_connect"], timeout=5).close())
attempt("gc_resolve", lambda: socket.getaddrinfo("localhost", 80, socket.AF_INET))

def reloaded():
    importlib.reload(socket)  # a new socket.socket class and new resolver functions
    socket.socket().connect(ADDRESSES["reload_connect"])
attempt("reload_connect", reloaded)
attempt("reload_create_connection", lambda: socket.create_connection(
    ADDRESSES["reload_create_connection"], timeout=5).close())
attempt("reload_resolve", lambda: socket.getaddrinfo("localhost", 80, socket.AF_INET))
"""

SIDESTEP_SERVERS = (
    "thread",
    "c_module",
    "fromfd",
    "adopted_fd",
    "builtins",
    "sys_modules",
    "deleted",
    "restored",
    "gc_connect",
    "reload_connect",
    "reload_create_connection",
)


@pytest.fixture(scope="module")
def sidesteps(batch: Callable[..., Batch]) -> Batch:
    return batch(SIDESTEPS, {"unsealed": BLOCK, "sealed": SEALED}, servers=SIDESTEP_SERVERS)


@pytest.mark.bypass(
    "network", "a thread started inside the blocker", verdict="blocked", layer="patch+audit"
)
def test_a_thread_started_inside_the_guard(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "thread")


@pytest.mark.bypass(
    "network", "_socket (the C module) used directly", verdict="blocked", layer="audit"
)
def test_the_c_level_socket_module(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "c_module")


@pytest.mark.bypass("network", "socket.fromfd of a fresh socket", verdict="blocked", layer="audit")
def test_fromfd_of_a_fresh_socket(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "fromfd")


@pytest.mark.bypass(
    "network", "socket(fileno=...) adopting a detached descriptor", verdict="blocked", layer="audit"
)
def test_a_socket_adopting_a_detached_descriptor(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "adopted_fd")


@pytest.mark.bypass(
    "network",
    "builtins swapped in a module's globals (__import__ hands out an unpatched socket)",
    verdict="blocked",
    layer="audit",
)
def test_builtins_handing_out_an_unpatched_socket_module(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "builtins")


@pytest.mark.bypass(
    "network", "sys.modules['socket'] replaced by a fresh copy", verdict="blocked", layer="audit"
)
def test_sys_modules_holding_a_fresh_socket_module(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "sys_modules")


@pytest.mark.bypass(
    "network", "del of the patched socket.socket.connect", verdict="blocked", layer="audit"
)
def test_deleting_the_patched_method(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "deleted")


@pytest.mark.bypass(
    "network", "socket.socket.connect re-assigned to the C method", verdict="blocked", layer="audit"
)
def test_restoring_the_c_method_by_assignment(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "restored")


@pytest.mark.bypass(
    "network",
    "patches undone through gc.get_objects() (layers switched off, originals restored)",
    verdict="blocked",
    layer="audit",
)
def test_patches_undone_through_gc(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "gc_connect", "gc_resolve")


@pytest.mark.bypass("network", "importlib.reload(socket)", verdict="blocked", layer="audit")
def test_a_reloaded_socket_module(sidesteps: Batch) -> None:
    sidesteps.blocked("network", "reload_connect", "reload_create_connection", "reload_resolve")


# -- addresses written so that they do not look like what they reach -------------------

DISGUISES = {
    "127.1": "127.1",
    "decimal": "2130706433",
    "hex": "0x7f.0.0.1",
    "octal": "0177.0.0.1",
}
DISGUISED = "import socket\n" + "".join(
    f"attempt({label!r}, lambda: socket.socket().connect(({host!r}, ADDRESSES[{label!r}][1])))\n"
    for label, host in DISGUISES.items()
)


@pytest.mark.bypass(
    "network",
    "legacy IPv4 literals (127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1)",
    verdict="blocked",
    layer="patch+audit",
)
def test_legacy_ipv4_forms_are_read_as_the_address_they_reach(
    batch: Callable[..., Batch],
) -> None:
    # Only a range that does not contain 127.0.0.1 is allowed: refused. And each one is
    # loopback, so under allow_localhost they are let through.
    ranged = batch(
        DISGUISED, {"10/8": {**BLOCK, "allow_domains": ["10.0.0.0/8"]}}, servers=DISGUISES
    )
    ranged.blocked("network", *DISGUISES)
    local = batch(DISGUISED, {"localhost": {**BLOCK, "allow_localhost": True}}, servers=DISGUISES)
    local.escapes(*DISGUISES)


@pytest.mark.bypass(
    "network", "IPv4-mapped IPv6 address (::ffff:127.0.0.1)", verdict="blocked", layer="patch+audit"
)
def test_an_ipv4_mapped_ipv6_address_is_its_ipv4_address(guarded: Guarded, mode: str) -> None:
    body = (
        "import socket\n"
        "def go():\n"
        "    s = socket.socket(socket.AF_INET6)\n"
        "    s.connect(('::ffff:' + ADDRESS[0], ADDRESS[1]))\n"
        "attempt('x', go)\n"
    )
    # ::1 allowed does not make 127.0.0.1 (spelled as ::ffff:127.0.0.1) reachable
    both_ways(guarded, mode, {**BLOCK, "allow_domains": ["::1"]}, body, "x")


@pytest.mark.bypass(
    "network",
    "NUL in a host name borrowing an allowed suffix",
    verdict="blocked",
    layer="patch+audit",
)
def test_a_nul_in_a_name_cannot_borrow_an_allowed_suffix(guarded: Guarded, mode: str) -> None:
    # The C resolver stops at the NUL: it would look up "localhost", allowed or not.
    body = (
        "import socket\n"
        "attempt('x', lambda: socket.getaddrinfo('localhost\\x00.allowed.test', 80, "
        "socket.AF_INET))\n"
        "attempt('then', lambda: socket.create_connection(ADDRESS, timeout=5))\n"
    )
    with reaches(1) as server:
        plain = guarded(mode, {}, f"ADDRESS = {server.address!r}\n" + body)
        assert plain.status("x") == "ok"  # really resolved, to localhost's address
    policy = {**BLOCK, "allow_domains": ["allowed.test"]}
    with reaches(0) as server:
        run = guarded(mode, policy, f"ADDRESS = {server.address!r}\n" + body)
        assert (run.status("x"), run.guard("x")) == ("blocked", "network")
        assert run.status("then") == "blocked"  # and 127.0.0.1 was not learnt


# -- listening where the network can reach ---------------------------------------------

LISTENERS = {
    "create_server": "socket.create_server(('', 0)).close()",
    "http.server": (
        "import http.server; http.server.HTTPServer(('', 0), "
        "http.server.BaseHTTPRequestHandler).server_close()"
    ),
    "asyncio": (
        "import asyncio\n"
        "async def main():\n"
        "    server = await asyncio.start_server(lambda r, w: None, None, 0)\n"
        "    server.close()\n"
        "asyncio.run(main())"
    ),
    "udp": "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('0.0.0.0', 0))",
}
LISTENING = "import socket\n" + "".join(
    f"attempt({label!r}, lambda: exec({code!r}, {{'socket': socket}}))\n"
    for label, code in LISTENERS.items()
)


@pytest.mark.bypass(
    "network",
    "listening on all interfaces (TCP, UDP, http.server, asyncio)",
    verdict="blocked",
    layer="patch+audit",
)
def test_listening_on_all_interfaces(batch: Callable[..., Batch]) -> None:
    policies = {"blocked": BLOCK, "localhost": {**BLOCK, "allow_localhost": True}}
    batch(LISTENING, policies).blocked("network", *LISTENERS)


@pytest.mark.bypass("network", "raw, packet and netlink sockets", verdict="blocked", layer="audit")
def test_raw_and_netlink_sockets(guarded: Guarded, mode: str) -> None:
    body = (
        "import socket\n"
        "attempt('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close())\n"
        "attempt('packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close())\n"
        "import _socket\n"
        "attempt('bare packet', lambda: _socket.socket(socket.AF_PACKET, 3).close())\n"
    )
    plain = guarded(mode, {}, body)
    run = guarded(mode, {**BLOCK, "allow_localhost": True}, body)
    assert plain.status("netlink") == "ok"
    for label in ("netlink", "packet", "bare packet"):
        assert (run.status(label), run.guard(label)) == ("blocked", "network")
        # a packet socket needs CAP_NET_RAW: where it is missing, only the refusal is shown
        assert plain.status(label) in ("ok", "error")


# -- other processes -----------------------------------------------------------------------


@pytest.mark.bypass("network", "a forked child", verdict="blocked", layer="patch+audit")
def test_a_forked_child_is_guarded_too(guarded: Guarded, mode: str) -> None:
    body = (
        "import os, socket\n"
        "def child():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            socket.create_connection(ADDRESS, timeout=5).close()\n"
        "        except BaseException as e:\n"
        "            os._exit(3 if type(e).__name__ == 'PolicyViolation' else 4)\n"
        "        os._exit(0)\n"
        "    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])\n"
        "    if code:\n"
        "        raise RuntimeError(code)\n"
        "attempt('fork', child)\n"
    )
    with reaches(1) as server:
        assert guarded(mode, {}, f"ADDRESS = {server.address!r}\n" + body).status("fork") == "ok"
    with reaches(0) as server:
        run = guarded(mode, BLOCK, f"ADDRESS = {server.address!r}\n" + body)
        assert run.outcomes["fork"][1:3] == ["error", "RuntimeError"]
        assert run.outcomes["fork"][3] == "3"  # the child was refused by the guard


CHILD = (
    "import subprocess, sys\n"
    "code = 'import socket, sys; socket.create_connection(%r, timeout=5)' % (ADDRESS,)\n"
    "def child():\n"
    "    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)\n"
    "    if 'PolicyViolation' in proc.stderr:\n"
    "        raise RuntimeError('child refused')\n"
    "    assert proc.returncode == 0, proc.stderr\n"
    "attempt('child', child)\n"
)


@pytest.mark.bypass(
    "network", "a child Python under the bootstrap", verdict="blocked", layer="patch+audit"
)
def test_a_child_python_under_the_bootstrap_is_guarded(guarded: Guarded) -> None:
    with reaches(1) as server:
        assert (
            guarded("bootstrap", {}, f"ADDRESS = {server.address!r}\n" + CHILD).status("child")
            == "ok"
        )
    with reaches(0) as server:  # the child inherits PYTHONPATH, so the assembled sitecustomize
        run = guarded("bootstrap", BLOCK, f"ADDRESS = {server.address!r}\n" + CHILD)
    assert run.outcomes["child"][1:] == ["error", "RuntimeError", "child refused"]


@pytest.mark.bypass(
    "network", "a child Python started under hermetic_blocker", verdict="residual", layer="none"
)
def test_known_gap_a_child_python_under_hermetic_blocker(guarded: Guarded) -> None:
    # hermetic_blocker guards this interpreter only (documented): the child reaches out.
    with reaches(1) as server:
        run = guarded("inprocess", BLOCK, f"ADDRESS = {server.address!r}\n" + CHILD)
        assert run.status("child") == "ok", run.stdout + run.stderr


# -- an allow-list taught by a faked resolver -----------------------------------------------

FAKED_ANSWER = """
import _socket, socket
attempt("before", lambda: socket.create_connection(ADDRESSES["faked"], timeout=5).close())
real = _socket.getaddrinfo
def lying(host, *args, **kwargs):
    if host == "allowed.test":  # the answer is whatever the program says it is
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ADDRESSES["faked"])]
    return real(host, *args, **kwargs)
_socket.getaddrinfo = lying
attempt("lookup", lambda: socket.getaddrinfo("allowed.test", 80))
attempt("faked", lambda: socket.create_connection(ADDRESSES["faked"], timeout=5).close())
"""


@pytest.fixture(scope="module")
def faked_answer(batch: Callable[..., Batch]) -> Batch:
    policy = {**BLOCK, "allow_domains": ["allowed.test"]}
    return batch(FAKED_ANSWER, {"allow_domains": policy}, servers=["faked"])


@pytest.mark.bypass(
    "network",
    "a faked resolver answer for an allowed name (_socket.getaddrinfo replaced)",
    verdict="residual",
    layer="none",
)
def test_known_gap_a_faked_resolver_answer_teaches_the_allow_list(faked_answer: Batch) -> None:
    for outcome in faked_answer.on:
        # the address is refused until an allowed name "resolves" to it ...
        assert outcome.status("before") == "blocked", outcome.why()
        assert outcome.status("lookup") == "ok", outcome.why()
    # ... and reached afterwards: the guard trusts what the resolver answers.
    faked_answer.escapes("faked")


# -- known gaps: pinned so that the documentation stays true ---------------------------


@pytest.mark.bypass(
    "network",
    "traffic on a socket connected before the guard",
    verdict="residual",
    layer="none",
)
def test_known_gap_traffic_on_a_socket_connected_before_the_blocker() -> None:
    with TCPCounter() as server:
        sock = socket.create_connection(server.address, timeout=5)
        with hermetic_blocker(**BLOCK):
            sock.sendall(b"not seen by any layer")  # no audit event, no patched method
            with pytest.raises(PolicyViolation):
                socket.create_connection(server.address, timeout=5)
        sock.close()
        assert server.wait_for(2, timeout=0.2) == 1


@pytest.mark.bypass(
    "network",
    "send() on a UDP socket connected before the guard",
    verdict="residual",
    layer="none",
)
def test_known_gap_send_on_a_udp_socket_connected_before_the_blocker() -> None:
    with UDPCounter() as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(server.address)
        with hermetic_blocker(**BLOCK):
            sock.send(b"x")
            with pytest.raises(PolicyViolation):
                sock.sendto(b"y", server.address)
        sock.close()
        assert server.wait_for(2, timeout=0.2) == 1


def _libc_connect(fd: int, host: str, port: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    sockaddr = struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton(host))
    return int(libc.connect(fd, sockaddr, len(sockaddr)))


@pytest.mark.bypass("network", "ctypes calling libc connect()", verdict="residual", layer="none")
def test_known_gap_connect_called_from_c() -> None:
    """C code (ctypes, extensions with their own sockets) never passes the socket module."""
    with TCPCounter() as server:
        with socket.socket() as sock, hermetic_blocker(**BLOCK):
            with pytest.raises(PolicyViolation):
                sock.connect(server.address)
            assert _libc_connect(sock.fileno(), *server.address) == 0
        assert server.wait_for(2, timeout=0.2) == 1


LIBC_CONNECT = """
import socket, struct
def libc_connect():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    host, port = ADDRESSES["libc"]
    sockaddr = struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton(host))
    with socket.socket() as sock:
        assert libc.connect(sock.fileno(), sockaddr, len(sockaddr)) == 0, ctypes.get_errno()
attempt("libc", libc_connect)
"""


@pytest.mark.bypass(
    "network",
    "ctypes calling libc connect() under block_native (the imports guard)",
    verdict="blocked",
    layer="audit",
)
def test_ctypes_is_refused_under_block_native(batch: Callable[..., Batch]) -> None:
    require_options("block_native")
    native = batch(
        LIBC_CONNECT, {"block_native": {**BLOCK, "block_native": True}}, servers=["libc"]
    )
    native.blocked("imports", "libc")
