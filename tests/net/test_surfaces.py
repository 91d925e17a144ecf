"""Every surface the issue lists, proven both ways, in every delivery mode.

One table of cases runs in a fresh interpreter under three policies: none (each case
really reaches its loopback server or really resolves), ``block_network`` (each is
refused by the network guard and its server received nothing), and ``block_network`` with
``allow_localhost`` (each works again, for real). Every case has a server of its own, so a
count of zero says exactly which call did not get through.

Modes: ``inprocess`` (``with hermetic_blocker(...)``), ``bootstrap`` (the assembled
sitecustomize in a bare venv where hermetic is not importable) and ``bootstrap-venv`` (the
same bootstrap in this test venv, where requests, urllib3 and httpx are installed).
"""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from typing import Any, NamedTuple

import pytest

from hermetic_testsupport.servers import TCPCounter, UDPCounter, http_counter

from .conftest import ALL_MODES, NetRun, UnixCounter


class Case(NamedTuple):
    """One surface: the call, the server it reaches, and what each policy does to it."""

    call: str  # an expression in the body; S is the case's server address or URL
    server: str | None  # tcp4, tcp6, udp4, udp6, unix, unix-dgram, http4, http6, or None
    blocked: str = "blocked"  # outcome under block_network alone
    localhost: str = "ok"  # outcome under block_network + allow_localhost
    venv_only: bool = False  # needs requests/urllib3/httpx (not in the bare venv)


CASES: dict[str, Case] = {
    # sockets, TCP and UDP, IPv4 and IPv6
    "tcp4.connect": Case("tcp_connect(socket.AF_INET, S)", "tcp4"),
    "tcp4.connect_ex": Case("tcp_connect_ex(S)", "tcp4"),
    "tcp6.connect": Case("tcp_connect(socket.AF_INET6, S)", "tcp6"),
    "tcp4.create_connection": Case("socket.create_connection(S, timeout=T).close()", "tcp4"),
    "tcp6.create_connection": Case("socket.create_connection(S, timeout=T).close()", "tcp6"),
    "tcp4.subclass": Case("subclass_connect(S)", "tcp4"),
    "udp4.sendto": Case("udp(socket.AF_INET, lambda s: s.sendto(b'x', S))", "udp4"),
    "udp6.sendto": Case("udp(socket.AF_INET6, lambda s: s.sendto(b'x', S))", "udp6"),
    "udp4.connect_send": Case(
        "udp(socket.AF_INET, lambda s: (s.connect(S), s.send(b'x')))", "udp4"
    ),
    "udp4.sendmsg": Case("udp(socket.AF_INET, lambda s: s.sendmsg([b'x'], [], 0, S))", "udp4"),
    "udp6.sendmsg": Case("udp(socket.AF_INET6, lambda s: s.sendmsg([b'x'], [], 0, S))", "udp6"),
    "unix.connect": Case("unix_connect(S)", "unix"),
    "unix.sendto": Case("unix_sendto(S)", "unix-dgram"),
    # asyncio
    "asyncio.open_connection": Case("asyncio.run(aio_open(S))", "tcp4"),
    "asyncio.open_connection6": Case("asyncio.run(aio_open(S))", "tcp6"),
    "asyncio.create_connection": Case("asyncio.run(aio_create(S))", "tcp6"),
    "asyncio.create_datagram_endpoint": Case("asyncio.run(aio_datagram(S))", "udp4"),
    "asyncio.open_unix_connection": Case("asyncio.run(aio_unix(S))", "unix"),
    "asyncio.http": Case("asyncio.run(aio_http(S))", "http4"),
    "asyncio.http6": Case("asyncio.run(aio_http(S))", "http6"),
    # the standard library's HTTP clients
    "http.client": Case("http_client(S)", "http4"),
    "http.client6": Case("http_client(S)", "http6"),
    "urllib.request": Case("fetch(S)", "http4"),
    "urllib.request6": Case("fetch(S)", "http6"),
    # real clients
    "requests": Case("use_requests(S)", "http4", venv_only=True),
    "requests6": Case("use_requests(S)", "http6", venv_only=True),
    "urllib3": Case("use_urllib3(S)", "http4", venv_only=True),
    "httpx": Case("use_httpx(S)", "http4", venv_only=True),
    "httpx6": Case("use_httpx(S)", "http6", venv_only=True),
    "httpx.async": Case("asyncio.run(use_httpx_async(S))", "http4", venv_only=True),
    # DNS: localhost is answered from /etc/hosts, so nothing leaves the machine either way
    "dns.getaddrinfo": Case("socket.getaddrinfo('localhost', 80, socket.AF_INET)", None),
    "dns.gethostbyname": Case("socket.gethostbyname('localhost')", None),
    "dns.gethostbyname_ex": Case("socket.gethostbyname_ex('localhost')", None),
    "dns.gethostbyaddr": Case("socket.gethostbyaddr('127.0.0.1')", None),
    "dns.getnameinfo": Case("socket.getnameinfo(('127.0.0.1', 80), 0)", None),
    "dns.captured_getaddrinfo": Case("_socket.getaddrinfo('localhost', 80, socket.AF_INET)", None),
    "dns.numeric": Case("socket.getaddrinfo('127.0.0.1', 80)", None, blocked="ok"),
    # binding: loopback always works (test servers), the network never
    "bind.loopback4": Case("bind(socket.AF_INET, '127.0.0.1')", None, blocked="ok"),
    "bind.loopback6": Case("bind(socket.AF_INET6, '::1')", None, blocked="ok"),
    "bind.any4": Case("bind(socket.AF_INET, '0.0.0.0')", None, localhost="blocked"),
    "bind.any6": Case("bind(socket.AF_INET6, '::')", None, localhost="blocked"),
    "bind.empty": Case("bind(socket.AF_INET, '')", None, localhost="blocked"),
    "bind.unix": Case("bind_unix()", None, blocked="ok"),
    # what must keep working under any network policy
    "socketpair": Case("pair()", None, blocked="ok"),
    "asyncio.run": Case("asyncio.run(asyncio.sleep(0))", None, blocked="ok"),
    # other address families cannot reach anything the policy could describe
    "family.netlink": Case(
        "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()", None, localhost="blocked"
    ),
    # the socket module itself, and _socket directly
    "_socket.connect": Case("raw_connect(S)", "tcp4"),
}

HELPERS = """
import asyncio, http.client, os, socket, tempfile, urllib.request
import _socket
T = 10

def tcp_connect(family, address):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(T)
    try:
        s.connect(address)
    finally:
        s.close()

def tcp_connect_ex(address):
    s = socket.socket()
    s.settimeout(T)
    try:
        err = s.connect_ex(address)
    finally:
        s.close()
    if err:
        raise OSError(err, os.strerror(err))

def raw_connect(address):
    s = _socket.socket()
    s.settimeout(T)
    try:
        s.connect(address)
    finally:
        s.close()

class Sub(socket.socket):
    pass

def subclass_connect(address):
    with Sub() as s:
        s.settimeout(T)
        s.connect(address)

def udp(family, action):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        action(s)
    finally:
        s.close()

def unix_connect(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)

def unix_sendto(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", path)

async def aio_open(address):
    reader, writer = await asyncio.open_connection(*address)
    writer.close()

async def aio_create(address):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, *address)
    transport.close()

async def aio_datagram(address):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=address)
    transport.sendto(b"x")
    transport.close()

async def aio_unix(path):
    reader, writer = await asyncio.open_unix_connection(path)
    writer.close()

async def aio_http(url):
    host, port, path = url
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(("GET %s HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n" % path).encode())
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.0 200"), response
    assert response.endswith(b"hello from loopback\\n"), response

def http_client(url):
    host, port, path = url
    c = http.client.HTTPConnection(host, port, timeout=T)
    c.request("GET", path)
    assert c.getresponse().read() == b"hello from loopback\\n"
    c.close()

def fetch(url):
    with urllib.request.urlopen(url, timeout=T) as r:
        assert r.read() == b"hello from loopback\\n"

def use_requests(url):
    import requests
    r = requests.get(url, timeout=T)
    assert r.text == "hello from loopback\\n", r.text

def use_urllib3(url):
    import urllib3
    r = urllib3.PoolManager().request("GET", url, timeout=T, retries=False)
    assert r.data == b"hello from loopback\\n"

def use_httpx(url):
    import httpx
    r = httpx.get(url, timeout=T, trust_env=False)
    assert r.text == "hello from loopback\\n"

async def use_httpx_async(url):
    import httpx
    try:
        async with httpx.AsyncClient(timeout=T, trust_env=False) as client:
            r = await client.get(url)
    except Exception as exc:
        # anyio's connect_tcp runs each attempt in a task group, which wraps anything but
        # OSError in an ExceptionGroup: the violation is its one member (documented).
        inner = getattr(exc, "exceptions", ())
        if len(inner) == 1 and type(inner[0]).__name__ == "PolicyViolation":
            raise inner[0] from None
        raise
    assert r.text == "hello from loopback\\n"

def bind(family, host):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        assert s.getsockname()[1] != 0
    finally:
        BOUND[family, host] = s.getsockname()[1]
        s.close()

def bind_unix():
    d = tempfile.mkdtemp()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.path.join(d, "b.sock"))
    os.unlink(os.path.join(d, "b.sock"))
    os.rmdir(d)

def pair():
    a, b = socket.socketpair()
    a.sendall(b"ping")
    assert b.recv(4) == b"ping"
    a.close()
    b.close()

BOUND = {}
"""

POLICIES: dict[str, dict[str, Any]] = {
    "none": {},
    "block": {"block_network": True},
    "localhost": {"block_network": True, "allow_localhost": True},
}


def expected(case: Case, policy: str) -> str:
    return {"none": "ok", "block": case.blocked, "localhost": case.localhost}[policy]


def _servers(stack: ExitStack, labels: list[str]) -> dict[str, Any]:
    """A server of its own for every case that reaches one; the body's address for it."""
    out: dict[str, Any] = {}
    http4 = stack.enter_context(http_counter("127.0.0.1"))
    http6 = stack.enter_context(http_counter("::1"))
    for label in labels:
        kind = CASES[label].server
        if kind == "tcp4":
            out[label] = stack.enter_context(TCPCounter("127.0.0.1"))
        elif kind == "tcp6":
            out[label] = stack.enter_context(TCPCounter("::1"))
        elif kind == "udp4":
            out[label] = stack.enter_context(UDPCounter("127.0.0.1"))
        elif kind == "udp6":
            out[label] = stack.enter_context(UDPCounter("::1"))
        elif kind == "unix":
            out[label] = stack.enter_context(UnixCounter())
        elif kind == "unix-dgram":
            out[label] = stack.enter_context(UnixCounter(socket.SOCK_DGRAM))
        elif kind in ("http4", "http6"):
            out[label] = (http4 if kind == "http4" else http6, "/" + label)
    return out


def _address(label: str, server: Any) -> Any:
    if isinstance(server, tuple):
        http, path = server
        if label.startswith(("http.client", "asyncio.http")):
            host, port = http.server_address[:2]
            return (host, port, path)
        return http.url + path
    if isinstance(server, UnixCounter):
        return server.path
    return server.address


def _reached(server: Any) -> int:
    if isinstance(server, tuple):
        http, path = server
        return int(http.hits.count(path))
    return int(server.count)


def _body(labels: list[str], servers: dict[str, Any]) -> str:
    lines = [HELPERS]
    for label in labels:
        address = _address(label, servers[label]) if label in servers else None
        lines.append(f"S = {address!r}")
        lines.append(f"attempt({label!r}, lambda S=S: {CASES[label].call})")
    lines.append("report('bound', [[k[0], k[1], v] for k, v in BOUND.items()])")
    return "\n".join(lines)


@pytest.mark.usefixtures("no_proxy_env")
@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("mode", ALL_MODES)
def test_every_surface_both_ways(net_run: NetRun, mode: str, policy: str) -> None:
    labels = [k for k, c in CASES.items() if mode != "bootstrap" or not c.venv_only]
    with ExitStack() as stack:
        servers = _servers(stack, labels)
        run = net_run(mode, POLICIES[policy], _body(labels, servers))
        time.sleep(0.2)  # a connection in flight would land now: zero means nothing came
        reached = {label: _reached(server) for label, server in servers.items()}
    problems = []
    for label in labels:
        want = expected(CASES[label], policy)
        got = run.status(label)
        if got != want:
            problems.append(f"{label}: {got} (wanted {want}): {run.outcomes[label][2:]}")
        elif got == "blocked" and run.guard(label) != "network":
            problems.append(f"{label}: blocked by {run.guard(label)}")
        if label in reached and reached[label] != (1 if want == "ok" else 0):
            problems.append(f"{label}: the server saw {reached[label]} (wanted {want})")
    assert not problems, "\n".join(problems) + "\n" + run.stderr[-3000:]
    bound = {(family, host): port for family, host, port in run.outcomes["bound"][2]}
    for label in ("bind.any4", "bind.any6", "bind.empty"):
        host = CASES[label].call.split("'")[1]
        port = next(p for (_, h), p in bound.items() if h == host)
        assert (port != 0) == (expected(CASES[label], policy) == "ok"), (label, port)
