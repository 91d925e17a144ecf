"""DNS: a refused lookup never reaches the resolver; an allowed one allows its addresses.

Two honest observers of "the resolver was not consulted":

* :class:`FakeResolver`, installed below the guard before any blocker (the C function
  ``socket.getaddrinfo`` calls, and the module's ``gethostbyname(_ex)``). It answers
  made-up names with loopback addresses, so allowed names lead to real connections to
  loopback servers, and it counts every question: a refused name is a count of zero.
* ``strace`` on a fresh interpreter, in both delivery modes, for the real C resolver and
  the audit layer: glibc opens /etc/hosts (and nsswitch.conf, resolv.conf, the nscd
  socket) for every lookup. Markers between the calls split the trace per call: each
  lookup leaves those traces without the guard and none with it.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation
from hermetic_testsupport.servers import TCPCounter, http_counter

from .conftest import FakeResolver, NetRun

Fake = Callable[[dict[str, list[str]]], FakeResolver]
ALLOWED: dict[str, Any] = {"block_network": True, "allow_domains": ["api.internal.test"]}
ANSWERS = {
    "api.internal.test": ["127.0.0.1"],
    "x.api.internal.test": ["127.0.0.1"],
    "evilapi.internal.test": ["127.0.0.1"],
    "api.internal.test.evil.test": ["127.0.0.1"],
    "v6.api.internal.test": ["::1"],
}

LOOKUPS: dict[str, Callable[[str], Any]] = {
    "getaddrinfo": lambda host: socket.getaddrinfo(host, 80),
    "gethostbyname": lambda host: socket.gethostbyname(host),
    "gethostbyname_ex": lambda host: socket.gethostbyname_ex(host),
    "create_connection": lambda host: socket.create_connection((host, 9), timeout=5),
}


@pytest.mark.parametrize("lookup", list(LOOKUPS))
@pytest.mark.parametrize("host", ["evilapi.internal.test", "api.internal.test.evil.test"])
def test_a_refused_name_never_reaches_the_resolver(
    fake_resolver: Fake, lookup: str, host: str
) -> None:
    fake = fake_resolver(ANSWERS)
    with pytest.raises(PolicyViolation) as info, hermetic_blocker(**ALLOWED):
        LOOKUPS[lookup](host)
    assert (info.value.guard, info.value.target) == ("network", host)
    assert str(info.value) == (
        f"network disabled: resolve {host} (use --allow-domain {host} or allow_domains=[{host!r}])"
    )
    assert fake.asked == []
    # without the guard the same call really asks the resolver
    try:
        LOOKUPS[lookup](host)
    except OSError:
        pass  # create_connection: nothing listens on port 9
    assert fake.asked == [host]


def test_an_allowed_name_connects_to_what_it_resolved_to(fake_resolver: Fake) -> None:
    fake = fake_resolver(ANSWERS)
    with TCPCounter() as server, hermetic_blocker(**ALLOWED):
        with pytest.raises(PolicyViolation, match=r"connect to 127\.0\.0\.1"):
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
        assert server.wait_for(1, timeout=0.2) == 0  # an address nobody resolved
        socket.create_connection(("x.api.internal.test", server.port), timeout=5).close()
        assert server.wait_for(1) == 1
        # now 127.0.0.1 came from an allowed name during this policy
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        assert server.wait_for(2) == 2
    assert fake.asked == ["x.api.internal.test"]


def test_resolved_addresses_are_forgotten_with_the_policy(fake_resolver: Fake) -> None:
    fake_resolver(ANSWERS)
    with TCPCounter() as server:
        with hermetic_blocker(**ALLOWED):
            socket.create_connection(("api.internal.test", server.port), timeout=5).close()
        with hermetic_blocker(**ALLOWED), pytest.raises(PolicyViolation):
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
        assert server.wait_for(2, timeout=0.2) == 1


@pytest.mark.parametrize("via", ["gethostbyname", "gethostbyname_ex"])
def test_every_resolver_function_remembers_its_answer(fake_resolver: Fake, via: str) -> None:
    fake_resolver(ANSWERS)
    with TCPCounter() as server, hermetic_blocker(**ALLOWED):
        LOOKUPS[via]("api.internal.test")
        socket.socket().connect(("127.0.0.1", server.port))
        assert server.wait_for(1) == 1


def test_an_allowed_ipv6_answer(fake_resolver: Fake) -> None:
    fake_resolver(ANSWERS)
    with TCPCounter("::1") as server, hermetic_blocker(**ALLOWED):
        socket.create_connection(("v6.api.internal.test", server.port), timeout=5).close()
        assert server.wait_for(1) == 1


def test_asyncio_resolves_in_a_thread_and_is_guarded_there(fake_resolver: Fake) -> None:
    fake = fake_resolver(ANSWERS)

    async def connect(host: str, port: int) -> None:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()

    with TCPCounter() as server, hermetic_blocker(**ALLOWED):
        asyncio.run(connect("api.internal.test", server.port))
        with pytest.raises(PolicyViolation, match=r"resolve evilapi\.internal\.test"):
            asyncio.run(connect("evilapi.internal.test", server.port))
        assert server.wait_for(2, timeout=0.2) == 1
    assert fake.asked == ["api.internal.test"]


@pytest.mark.usefixtures("no_proxy_env")
@pytest.mark.parametrize("client", ["requests", "urllib3", "httpx", "urllib"])
def test_real_clients_reach_an_allowed_domain_only(fake_resolver: Fake, client: str) -> None:
    fake = fake_resolver(ANSWERS)

    def get(url: str) -> bytes:
        if client == "requests":
            import requests

            return bytes(requests.get(url, timeout=5).content)
        if client == "urllib3":
            import urllib3

            return bytes(urllib3.PoolManager().request("GET", url, retries=False).data)
        if client == "httpx":
            httpx = importlib.import_module("httpx")  # mypy cannot parse anyio for 3.9

            return bytes(httpx.get(url, timeout=5, trust_env=False).content)
        import urllib.request

        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())

    with http_counter() as server, hermetic_blocker(**ALLOWED):
        port = server.server_address[1]
        assert get(f"http://api.internal.test:{port}/ok") == b"hello from loopback\n"
        with pytest.raises(PolicyViolation, match=r"resolve evilapi\.internal\.test"):
            get(f"http://evilapi.internal.test:{port}/evil")
        with pytest.raises(PolicyViolation, match=r"connect to 127\.0\.0\.2"):
            get(f"http://127.0.0.2:{port}/direct")
    assert server.hits == ["/ok"]
    assert "evilapi.internal.test" not in fake.asked


def test_getfqdn_answers_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real = socket.gethostbyaddr

    def counting(host: str) -> Any:
        asked.append(host)
        return real(host)

    monkeypatch.setattr(socket, "gethostbyaddr", counting)
    unguarded = socket.getfqdn()
    assert asked == [socket.gethostname()]  # without the guard getfqdn really looks it up
    with hermetic_blocker(block_network=True, allow_localhost=True):
        assert socket.getfqdn() == socket.gethostname()
        assert socket.getfqdn("192.0.2.1") == "192.0.2.1"
        assert socket.getfqdn("localhost") == unguarded or socket.getfqdn("localhost")
    assert asked[1:] == ["localhost"]  # the one lookup allow_localhost allows


# -- the real resolver, watched with strace -------------------------------------------

FOOTPRINTS = ("/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/host.conf", "nscd")

STRACED_CALLS = {
    "getaddrinfo": "socket.getaddrinfo('localhost', 80, socket.AF_INET)",
    "gethostbyname": "socket.gethostbyname('localhost')",
    "gethostbyname_ex": "socket.gethostbyname_ex('localhost')",
    "gethostbyaddr": "socket.gethostbyaddr('127.0.0.1')",
    "getnameinfo": "socket.getnameinfo(('127.0.0.1', 80), 0)",
    "_socket.getaddrinfo": "_socket.getaddrinfo('localhost', 80, socket.AF_INET)",
    "_socket.gethostbyname": "_socket.gethostbyname('localhost')",
    "_socket.gethostbyaddr": "_socket.gethostbyaddr('127.0.0.1')",
    "connect_by_name": "socket.socket().connect_ex(('localhost', 9))",
    "create_connection": "socket.create_connection(('localhost', 9), timeout=5)",
    "sendto_by_name": "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', "
    "('localhost', 9))",
    "bind_by_name": "socket.socket().bind(('localhost', 0))",
}


def _traced_body(calls: dict[str, str] = STRACED_CALLS) -> str:
    lines = ["import os, socket, _socket"]
    for label, call in calls.items():
        lines.append(f"os.access('/hermetic-mark/{label}', 0)")
        lines.append(f"attempt({label!r}, lambda: {call})")
    lines.append("os.access('/hermetic-mark/end', 0)")
    return "\n".join(lines)


def _footprints_per_call(trace: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    current = None
    for line in trace.splitlines():
        if "/hermetic-mark/" in line:
            current = line.split("/hermetic-mark/")[1].split('"')[0]
            counts[current] = 0
        elif current is not None and any(mark in line for mark in FOOTPRINTS):
            counts[current] += 1
    return counts


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_the_real_resolver_is_never_consulted(
    net_run: NetRun, strace: str, tmp_path: Path, mode: str
) -> None:
    log = tmp_path / "strace.log"
    prefix = [
        strace,
        "-f",
        "-qq",
        "-o",
        str(log),
        "-e",
        "trace=openat,open,connect,access,faccessat,faccessat2",
    ]
    plain = net_run(mode, {}, _traced_body(), prefix=prefix)
    unguarded = _footprints_per_call(log.read_text())
    blocked = net_run(mode, {"block_network": True}, _traced_body(), prefix=prefix)
    guarded = _footprints_per_call(log.read_text())
    for label in STRACED_CALLS:
        assert plain.status(label) != "blocked"
        assert unguarded[label] > 0, (label, "without the guard the resolver is consulted")
        assert blocked.status(label) == "blocked", (label, blocked.outcomes[label])
        assert blocked.guard(label) == "network"
        assert guarded[label] == 0, (label, "the guard let the resolver be consulted")


def test_known_gap_a_name_given_to_a_bare_c_socket_is_resolved_before_the_refusal(
    net_run: NetRun, strace: str, tmp_path: Path
) -> None:
    """CPython resolves the name in an address before raising the audit event.

    The patch layer checks first on ``socket.socket``; a ``_socket.socket`` made directly
    skips it, so its refused connect has already asked the resolver (documented).
    """
    log = tmp_path / "strace.log"
    prefix = [strace, "-f", "-qq", "-o", str(log), "-e", "trace=openat,open,access,faccessat"]
    calls = {"bare": "_socket.socket().connect_ex(('localhost', 9))"}
    run = net_run("inprocess", {"block_network": True}, _traced_body(calls), prefix=prefix)
    assert run.status("bare") == "blocked"  # no connection is made...
    assert _footprints_per_call(log.read_text())["bare"] > 0  # ...but the name was looked up
