"""What must keep working: TLS, test servers, asyncio, subclasses, and no residue after exit."""

from __future__ import annotations

import _socket
import asyncio
import socket
import threading
import urllib.request
from typing import Any

import pytest

from hermetic import hermetic_blocker
from hermetic._runtime import RUNTIME
from hermetic.errors import PolicyViolation
from hermetic_testsupport.servers import TCPCounter, http_counter

from .conftest import ALL_MODES, NetRun, TLSEcho

LOCALHOST: dict[str, Any] = {"block_network": True, "allow_localhost": True}

TLS_BODY = """
import socket, ssl
ctx = ssl.create_default_context(cafile=CERT)

def tls(address, name):
    with socket.create_connection(address, timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(b"ping")
            assert s.recv(64) == b"echo:ping"
            assert s.version()

def tls_connect(address):
    s = ctx.wrap_socket(socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET),
                        server_hostname="localhost")
    with s:
        s.settimeout(10)
        s.connect(address)
        s.sendall(b"ping")
        assert s.recv(64) == b"echo:ping"

attempt("wrap4", lambda: tls(A4, "localhost"))
attempt("wrap6", lambda: tls(A6, "::1"))
attempt("connect4", lambda: tls_connect(A4))
"""

TLS_VENV_BODY = """
import requests
attempt("requests", lambda: requests.get(URL, verify=CERT, timeout=10).raise_for_status())
"""


@pytest.mark.usefixtures("no_proxy_env")
@pytest.mark.parametrize("mode", ALL_MODES)
def test_tls_on_an_allowed_socket(net_run: NetRun, tls_files: tuple[str, str], mode: str) -> None:
    cert, key = tls_files
    for policy, want in (({}, "ok"), ({"block_network": True}, "blocked"), (LOCALHOST, "ok")):
        with TLSEcho(cert, key) as four, TLSEcho(cert, key, "::1") as six:
            body = f"CERT = {cert!r}\nA4 = {four.address!r}\nA6 = {six.address!r}\n" + TLS_BODY
            if mode != "bootstrap":
                body += f"URL = 'https://127.0.0.1:{four.address[1]}/'\n" + TLS_VENV_BODY
            run = net_run(mode, policy, body)
            labels = ["wrap4", "wrap6", "connect4"] + (["requests"] if mode != "bootstrap" else [])
            assert {label: run.status(label) for label in labels} == dict.fromkeys(labels, want), (
                run.stdout + run.stderr
            )
            handshakes = (four.handshakes, six.handshakes)
        expected = (len(labels) - 1, 1) if want == "ok" else (0, 0)
        assert handshakes == expected, policy


SERVERS_BODY = """
import asyncio, http.server, socket, threading, urllib.request

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")
    def log_message(self, *args):
        pass

class Server6(http.server.HTTPServer):
    address_family = socket.AF_INET6

def serve_and_fetch(cls, host, url_host):
    server = cls((host, 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://%s:%d/" % (url_host, server.server_address[1])
        assert urllib.request.urlopen(url, timeout=10).read() == b"hello"
    finally:
        server.shutdown()
        server.server_close()

async def echo_round_trip(host):
    async def handle(reader, writer):
        writer.write(await reader.read(4))
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"ping")
    await writer.drain()
    assert await reader.read(4) == b"ping"
    writer.close()
    server.close()
    await server.wait_closed()

async def datagram_round_trip(host):
    loop = asyncio.get_running_loop()
    got = loop.create_future()
    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            got.set_result(data)
    server, _ = await loop.create_datagram_endpoint(Sink, local_addr=(host, 0))
    address = server.get_extra_info("sockname")[:2]
    client, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=address)
    client.sendto(b"ping")
    assert await asyncio.wait_for(got, 10) == b"ping"
    client.close()
    server.close()

attempt("http.server4", lambda: serve_and_fetch(http.server.HTTPServer, "127.0.0.1", "127.0.0.1"))
attempt("http.server6", lambda: serve_and_fetch(Server6, "::1", "[::1]"))
attempt("http.server.localhost", lambda: serve_and_fetch(
    http.server.HTTPServer, "localhost", "localhost"))
attempt("asyncio.server4", lambda: asyncio.run(echo_round_trip("127.0.0.1")))
attempt("asyncio.server6", lambda: asyncio.run(echo_round_trip("::1")))
attempt("asyncio.server.localhost", lambda: asyncio.run(echo_round_trip("localhost")))
attempt("asyncio.datagram", lambda: asyncio.run(datagram_round_trip("127.0.0.1")))
"""


@pytest.mark.usefixtures("no_proxy_env")
@pytest.mark.parametrize("mode", ALL_MODES)
def test_test_servers_bind_and_serve_on_loopback(net_run: NetRun, mode: str) -> None:
    run = net_run(mode, LOCALHOST, SERVERS_BODY)
    labels = [line.split('"')[1] for line in SERVERS_BODY.splitlines() if "attempt(" in line]
    assert {label: run.status(label) for label in labels} == dict.fromkeys(labels, "ok"), (
        run.stdout + run.stderr
    )
    # without allow_localhost the servers still bind, but nobody may connect to them
    blocked = net_run(mode, {"block_network": True}, SERVERS_BODY)
    assert {label: blocked.status(label) for label in labels} == dict.fromkeys(labels, "blocked"), (
        blocked.stdout
    )


def test_asyncio_runs_under_any_network_policy() -> None:
    with hermetic_blocker(block_network=True):
        assert asyncio.run(asyncio.sleep(0, "done")) == "done"
        loop = asyncio.new_event_loop()  # its self-pipe is a socketpair
        loop.close()


def test_lookups_that_ask_nobody_work_under_any_policy() -> None:
    with hermetic_blocker(block_network=True):
        assert socket.gethostname()
        assert socket.getservbyname("http", "tcp") == 80
        assert socket.getaddrinfo(None, 80, socket.AF_INET)[0][4][1] == 80
        assert socket.getaddrinfo("192.0.2.7", 80)[0][4] == ("192.0.2.7", 80)
        assert socket.getaddrinfo("2001:db8::7", 80)[0][4][:2] == ("2001:db8::7", 80)


def test_mail_ids_and_fqdn_need_no_lookup() -> None:
    import email.utils

    with hermetic_blocker(block_network=True):
        assert email.utils.make_msgid().endswith(f"@{socket.gethostname()}>")
        assert socket.getfqdn() == socket.gethostname()


def test_a_subclass_with_its_own_connect_is_still_guarded() -> None:
    class Traced(socket.socket):
        calls = 0

        def connect(self, address: Any) -> None:
            Traced.calls += 1
            super().connect(address)

    with TCPCounter() as server:
        with hermetic_blocker(block_network=True), pytest.raises(PolicyViolation):
            Traced().connect(server.address)
        with hermetic_blocker(**LOCALHOST), Traced() as sock:
            sock.connect(server.address)
        assert server.wait_for(1) == 1
        assert Traced.calls == 2
        assert isinstance(Traced(), socket.socket)


def test_other_threads_are_guarded_too() -> None:
    errors: list[BaseException] = []

    def connect(address: tuple[str, int]) -> None:
        try:
            socket.create_connection(address, timeout=5).close()
        except BaseException as exc:
            errors.append(exc)

    with TCPCounter() as server, hermetic_blocker(block_network=True):
        thread = threading.Thread(target=connect, args=(server.address,))
        thread.start()
        thread.join(10)
        assert server.wait_for(1, timeout=0.2) == 0
    assert len(errors) == 1 and isinstance(errors[0], PolicyViolation)


NETWORK_EVENTS = {
    "socket.__new__",
    "socket.connect",
    "socket.bind",
    "socket.sendto",
    "socket.sendmsg",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
}
PATCHED = {
    socket: ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "getfqdn"),
    socket.socket: ("connect", "connect_ex", "bind", "sendto", "sendmsg"),
}


def _snapshot() -> dict[tuple[Any, str], Any]:
    # Compared with the state before the blocker, not with a pristine class: pytest-socket
    # (a test dependency) puts the original connect into socket.socket's own namespace.
    return {
        (owner, name): vars(owner).get(name) for owner, names in PATCHED.items() for name in names
    }


def test_nothing_is_left_behind_after_the_blocker_exits() -> None:
    before = _snapshot()
    with hermetic_blocker(block_network=True, allow_domains=["localhost", "10.0.0.0/8"]):
        assert _snapshot() != before
        assert set(RUNTIME.subscribed_events()) >= NETWORK_EVENTS
        with hermetic_blocker(block_network=True):
            pass
    assert _snapshot() == before
    assert not NETWORK_EVENTS & set(RUNTIME.subscribed_events())
    # and everything works again, through every path
    with TCPCounter() as server, http_counter() as web:
        socket.create_connection(server.address, timeout=5).close()
        _socket.socket().connect(server.address)
        assert socket.getaddrinfo("localhost", 80, socket.AF_INET)[0][4] == ("127.0.0.1", 80)
        url = f"http://127.0.0.1:{web.server_address[1]}/after"
        urllib.request.urlopen(url, timeout=5).read()
        assert server.wait_for(2) == 2
        assert web.hits == ["/after"]
        with socket.socket() as wildcard:
            wildcard.bind(("0.0.0.0", 0))


def test_stacked_blockers_restore_the_outer_policy() -> None:
    with TCPCounter() as server:
        with hermetic_blocker(**LOCALHOST):
            socket.create_connection(server.address, timeout=5).close()
            with hermetic_blocker(block_network=True), pytest.raises(PolicyViolation):
                socket.create_connection(server.address, timeout=5)
            socket.create_connection(server.address, timeout=5).close()
        assert server.wait_for(2) == 2
