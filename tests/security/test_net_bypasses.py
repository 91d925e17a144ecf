"""Known ways around a network guard, each proven both ways.

Every case first shows the trick really works without the guard (a loopback server counts
the connection, a name really resolves), then that the network guard stops it. The
``test_known_gap_*`` cases pin what the guard does NOT stop, as documented in
docs/guards/network.md: if one of them starts failing, the documentation must change.
"""

from __future__ import annotations

import _socket
import ctypes
import ctypes.util
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import GuardedRun
from hermetic_testsupport.servers import TCPCounter

Guarded = Callable[..., GuardedRun]
BLOCK: dict[str, Any] = {"block_network": True}


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


def test_a_socket_class_captured_before_the_blocker() -> None:
    from socket import socket as captured

    with reaches(1) as server:
        captured().connect(server.address)
    with reaches(0) as server, hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation):
        captured().connect(server.address)


def test_an_unbound_c_method_on_a_socket_made_before_the_blocker() -> None:
    connect = _socket.socket.connect
    with reaches(1) as server:
        connect(socket.socket(), server.address)
    sock = socket.socket()
    with reaches(0) as server, hermetic_blocker(**BLOCK), pytest.raises(PolicyViolation):
        connect(sock, server.address)
    sock.close()


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


# -- the program undoes or sidesteps the patches while the guard is on -----------------

SIDESTEPS = {
    "_socket.socket": "s = _socket.socket(); s.connect(ADDRESS)",
    "reloaded socket module": "importlib.reload(socket); socket.socket().connect(ADDRESS)",
    "connect restored": (
        "socket.socket.connect = _socket.socket.connect; socket.socket().connect(ADDRESS)"
    ),
    "create_connection after reload": (
        "importlib.reload(socket); socket.create_connection(ADDRESS, timeout=5)"
    ),
    "fromfd of a fresh socket": (
        "s = socket.socket(); t = socket.fromfd(s.fileno(), socket.AF_INET, "
        "socket.SOCK_STREAM); t.connect(ADDRESS)"
    ),
    "socket of an adopted fd": (
        "s = socket.socket(); socket.socket(fileno=s.detach()).connect(ADDRESS)"
    ),
}


@pytest.mark.parametrize("trick", list(SIDESTEPS))
def test_sidestepping_the_patches(guarded: Guarded, mode: str, trick: str) -> None:
    code = SIDESTEPS[trick]
    body = f"import importlib, socket, _socket\nattempt('x', lambda: exec({code!r}, globals()))"
    both_ways(guarded, mode, BLOCK, body, "x")


def test_a_reloaded_socket_module_still_cannot_resolve(guarded: Guarded, mode: str) -> None:
    body = (
        "import importlib, socket\n"
        "importlib.reload(socket)\n"
        "attempt('gai', lambda: socket.getaddrinfo('localhost', 80, socket.AF_INET))\n"
    )
    assert guarded(mode, {}, body).status("gai") == "ok"
    run = guarded(mode, BLOCK, body)
    assert (run.status("gai"), run.guard("gai")) == ("blocked", "network")


# -- addresses written so that they do not look like what they reach -------------------

DISGUISES = {
    "127.1": "127.1",
    "decimal": "2130706433",
    "hex": "0x7f.0.0.1",
    "octal": "0177.0.0.1",
}


@pytest.mark.parametrize("disguise", list(DISGUISES))
def test_legacy_ipv4_forms_are_read_as_the_address_they_reach(
    guarded: Guarded, mode: str, disguise: str
) -> None:
    body = (
        "import socket\n"
        f"attempt('x', lambda: socket.socket().connect(({DISGUISES[disguise]!r}, ADDRESS[1])))"
    )
    # only a range that does not contain 127.0.0.1 is allowed
    both_ways(guarded, mode, {**BLOCK, "allow_domains": ["10.0.0.0/8"]}, body, "x")
    with reaches(1) as server:  # and it is loopback, so allow_localhost lets it through
        run = guarded(
            mode, {**BLOCK, "allow_localhost": True}, f"ADDRESS = {server.address!r}\n" + body
        )
        assert run.status("x") == "ok", run.stderr


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
    "create_server wildcard": "socket.create_server(('', 0)).close()",
    "http.server on all interfaces": (
        "import http.server; http.server.HTTPServer(('', 0), "
        "http.server.BaseHTTPRequestHandler).server_close()"
    ),
    "asyncio server on all interfaces": (
        "import asyncio\n"
        "async def main():\n"
        "    server = await asyncio.start_server(lambda r, w: None, None, 0)\n"
        "    server.close()\n"
        "asyncio.run(main())"
    ),
    "udp on all interfaces": (
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('0.0.0.0', 0))"
    ),
}


@pytest.mark.parametrize("listener", list(LISTENERS))
def test_listening_on_all_interfaces(guarded: Guarded, mode: str, listener: str) -> None:
    body = (
        f"import socket\nattempt('x', lambda: exec({LISTENERS[listener]!r}, {{'socket': socket}}))"
    )
    assert guarded(mode, {}, body).status("x") == "ok"
    for policy in (BLOCK, {**BLOCK, "allow_localhost": True}):
        run = guarded(mode, policy, body)
        assert (run.status("x"), run.guard("x")) == ("blocked", "network"), run.stdout


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
    if not hasattr(os, "waitstatus_to_exitcode"):  # Python 3.9+ has it; keep the guard
        pytest.skip("os.waitstatus_to_exitcode is missing")
    with reaches(1) as server:
        assert guarded(mode, {}, f"ADDRESS = {server.address!r}\n" + body).status("fork") == "ok"
    with reaches(0) as server:
        run = guarded(mode, BLOCK, f"ADDRESS = {server.address!r}\n" + body)
        assert run.outcomes["fork"][1:3] == ["error", "RuntimeError"]
        assert run.outcomes["fork"][3] == "3"  # the child was refused by the guard


def test_a_child_python_is_guarded_in_the_bootstrap_only(guarded: Guarded, mode: str) -> None:
    body = (
        "import subprocess, sys\n"
        "code = 'import socket, sys; socket.create_connection(%r, timeout=5)' % (ADDRESS,)\n"
        "def child():\n"
        "    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)\n"
        "    if 'PolicyViolation' in proc.stderr:\n"
        "        raise RuntimeError('child refused')\n"
        "attempt('child', child)\n"
    )
    with reaches(0 if mode == "bootstrap" else 1) as server:
        run = guarded(mode, BLOCK, f"ADDRESS = {server.address!r}\n" + body)
    if mode == "bootstrap":  # the child inherits PYTHONPATH, so the assembled sitecustomize
        assert run.outcomes["child"][1:] == ["error", "RuntimeError", "child refused"]
    else:  # known gap: hermetic_blocker guards this interpreter only (documented)
        assert run.status("child") == "ok"


# -- known gaps: pinned so that the documentation stays true ---------------------------


def test_known_gap_traffic_on_a_socket_connected_before_the_blocker() -> None:
    with TCPCounter() as server:
        sock = socket.create_connection(server.address, timeout=5)
        with hermetic_blocker(**BLOCK):
            sock.sendall(b"not seen by any layer")  # no audit event, no patched method
            with pytest.raises(PolicyViolation):
                socket.create_connection(server.address, timeout=5)
        sock.close()
        assert server.wait_for(2, timeout=0.2) == 1


def test_known_gap_send_on_a_udp_socket_connected_before_the_blocker() -> None:
    from hermetic_testsupport.servers import UDPCounter

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
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    sockaddr = struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton(host))
    return int(libc.connect(fd, sockaddr, len(sockaddr)))


def test_known_gap_connect_called_from_c() -> None:
    """C code (ctypes, extensions with their own sockets) never passes the socket module."""
    with TCPCounter() as server:
        with socket.socket() as sock, hermetic_blocker(**BLOCK):
            with pytest.raises(PolicyViolation):
                sock.connect(server.address)
            assert _libc_connect(sock.fileno(), *server.address) == 0
        assert server.wait_for(2, timeout=0.2) == 1
