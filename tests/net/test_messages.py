"""Every refusal names the guard and the target, says what was attempted and how to allow it.

The same messages come out of the bootstrap, where hermetic may not even be importable.
"""

from __future__ import annotations

import socket
from typing import Any, Callable

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation

from .conftest import NetRun

LOCAL = "use --allow-localhost or allow_localhost=True"
NOT_A_HOST = "not a valid host name, so no allow_domains entry can match it"
BIND = (
    "bind to a loopback address such as 127.0.0.1 or ::1; only loopback and allowed ranges "
    "can be bound"
)
FAMILY = "only AF_INET, AF_INET6 and AF_UNIX sockets are usable under block_network"

# label: (call, target, message after "network disabled: ")
MESSAGES: dict[str, tuple[str, str, str]] = {
    "connect ip": (
        "socket.socket().connect(('93.184.216.34', 443))",
        "93.184.216.34",
        "connect to 93.184.216.34:443 (use --allow-domain 93.184.216.34 or "
        "allow_domains=['93.184.216.34'])",
    ),
    "connect_ex ipv6": (
        "socket.socket(socket.AF_INET6).connect_ex(('2001:db8::5', 80, 0, 0))",
        "2001:db8::5",
        "connect to [2001:db8::5]:80 (use --allow-domain 2001:db8::5 or "
        "allow_domains=['2001:db8::5'])",
    ),
    "connect loopback": (
        "socket.socket().connect(('127.0.0.1', 8080))",
        "127.0.0.1",
        f"connect to 127.0.0.1:8080 ({LOCAL})",
    ),
    "connect name": (
        "socket.socket().connect(('example.com', 443))",
        "example.com",
        "connect to example.com:443 (use --allow-domain example.com or "
        "allow_domains=['example.com'])",
    ),
    "create_connection name": (
        "socket.create_connection(('Example.COM.', 443))",
        "Example.COM.",
        "resolve Example.COM. (use --allow-domain example.com or allow_domains=['example.com'])",
    ),
    "resolve idna": (
        "socket.getaddrinfo('bücher.example', 443)",
        "bücher.example",
        "resolve bücher.example (use --allow-domain xn--bcher-kva.example or "
        "allow_domains=['xn--bcher-kva.example'])",
    ),
    "resolve localhost": (
        "socket.gethostbyname('localhost')",
        "localhost",
        f"resolve localhost ({LOCAL})",
    ),
    "resolve nul": (
        "socket.getaddrinfo('localhost\\x00.example.com', 80)",
        "localhost\\x00.example.com",
        f"resolve localhost\\x00.example.com ({NOT_A_HOST})",
    ),
    "reverse": (
        "socket.gethostbyaddr('192.0.2.1')",
        "192.0.2.1",
        "reverse lookup of 192.0.2.1 (use --allow-domain 192.0.2.1 or allow_domains=['192.0.2.1'])",
    ),
    "nameinfo": (
        "socket.getnameinfo(('127.0.0.1', 80), 0)",
        "127.0.0.1",
        f"reverse lookup of 127.0.0.1 ({LOCAL})",
    ),
    "sendto": (
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.53', 53))",
        "192.0.2.53",
        "send to 192.0.2.53:53 (use --allow-domain 192.0.2.53 or allow_domains=['192.0.2.53'])",
    ),
    "sendmsg": (
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendmsg([b'x'], [], 0, "
        "('192.0.2.53', 53))",
        "192.0.2.53",
        "send to 192.0.2.53:53 (use --allow-domain 192.0.2.53 or allow_domains=['192.0.2.53'])",
    ),
    "unix": (
        "socket.socket(socket.AF_UNIX).connect('/run/nothing-here.sock')",
        "/run/nothing-here.sock",
        f"connect to unix socket /run/nothing-here.sock ({LOCAL})",
    ),
    "unix abstract": (
        "socket.socket(socket.AF_UNIX).connect('\\0hermetic-test')",
        "@hermetic-test",
        f"connect to unix socket @hermetic-test ({LOCAL})",
    ),
    "bind wildcard": (
        "socket.socket().bind(('', 8000))",
        "0.0.0.0",
        f"bind to 0.0.0.0:8000 ({BIND})",
    ),
    "bind wildcard6": (
        "socket.socket(socket.AF_INET6).bind(('::', 8000))",
        "::",
        f"bind to [::]:8000 ({BIND})",
    ),
    "family": (
        "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)",
        "AF_NETLINK",
        f"create an AF_NETLINK socket ({FAMILY})",
    ),
}


def _calls() -> dict[str, Callable[[], Any]]:
    return {
        label: eval(f"lambda: {call}", {"socket": socket})
        for label, (call, _, _) in MESSAGES.items()
    }


@pytest.mark.parametrize("label", list(MESSAGES))
def test_messages_in_process(label: str) -> None:
    _call, target, message = MESSAGES[label]
    with pytest.raises(PolicyViolation) as info, hermetic_blocker(block_network=True):
        _calls()[label]()
    assert info.value.guard == "network"
    assert info.value.target == target
    assert str(info.value) == "network disabled: " + message


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_the_bootstrap_says_the_same(net_run: NetRun, mode: str) -> None:
    body = "import socket\n" + "\n".join(
        f"attempt({label!r}, lambda: {call})" for label, (call, _, _) in MESSAGES.items()
    )
    run = net_run(mode, {"block_network": True}, body)
    for label, (_call, target, message) in MESSAGES.items():
        assert run.outcomes[label][1:] == [
            "blocked",
            "network",
            target,
            "network disabled: " + message,
        ]


def test_trace_reports_each_block_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with hermetic_blocker(block_network=True, trace=True):
        for call in (
            lambda: socket.gethostbyname("localhost"),
            lambda: socket.socket().bind(("", 0)),
        ):
            with pytest.raises(PolicyViolation):
                call()
    assert capsys.readouterr().err.splitlines() == [
        "hermetic: blocked network: resolve localhost",
        "hermetic: blocked network: bind to 0.0.0.0:0",
    ]
