"""pytest-socket's documented behaviours, re-checked with hermetic's equivalents.

Every scenario runs twice on the same test body: once with pytest-socket's flag, marker or
fixture (hermetic disabled with ``-p no:hermetic``), once with hermetic's equivalent
(pytest-socket disabled), and both runs must end the same way: the same outcomes and the
same connections reaching the loopback server. docs/pytest.md has the table this follows.
The few places where hermetic deliberately differs are tested at the end, both ways.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hermetic_testsupport.servers import TCPCounter, UDPCounter

pytest_plugins = ["pytester"]

pytest_socket = pytest.importorskip("pytest_socket")
#: What the installed pytest-socket can do (Python 3.9's venv has 0.7, without either).
SOCKET_CAN = {
    "cidr": hasattr(pytest_socket, "_partition_allowed"),  # CIDR ranges: 0.8
    "dns": hasattr(pytest_socket, "_guarded_getaddrinfo"),  # refused lookups: 0.8
}

COMMON = """
import os
import socket
import pytest

PORT = {port}
UDP_PORT = {udp_port}
UNIX_PATH = {unix_path!r}

def tcp(host="127.0.0.1"):
    try:
        socket.create_connection((host, PORT), timeout=5).close()
    except RuntimeError:  # pytest-socket's SocketBlockedError, hermetic's PolicyViolation
        return "blocked"
    except OSError:
        return "refused"  # it reached the kernel, and nothing listens there
    return "connected"

def udp():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", ("127.0.0.1", UDP_PORT))
        s.close()
    except RuntimeError:
        return "blocked"
    return "sent"

def unix():
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(UNIX_PATH)
        s.close()
    except RuntimeError:
        return "blocked"
    return "connected"
"""


class Side:
    """One tool's half of a scenario: its command-line arguments and its test body."""

    def __init__(self, args: list[str], body: str) -> None:
        self.args = args
        self.body = textwrap.dedent(body)


class Scenario:
    """A pytest-socket behaviour and its hermetic equivalent, with the expected outcome."""

    def __init__(
        self,
        name: str,
        socket: Side,
        hermetic: Side,
        outcomes: dict[str, int],
        reached: int,
        *,
        needs: str | None = None,
    ) -> None:
        self.name = name
        self.sides = {"pytest-socket": socket, "hermetic": hermetic}
        self.outcomes = outcomes
        self.reached = reached
        self.needs = needs


SCENARIOS = [
    Scenario(
        "disable: every connection fails with a RuntimeError",
        Side(["--disable-socket"], "def test_tcp():\n    assert tcp() == 'blocked'\n"),
        Side(["--hermetic-no-network"], "def test_tcp():\n    assert tcp() == 'blocked'\n"),
        {"passed": 1},
        0,
    ),
    Scenario(
        "disable: a violation left uncaught fails the test",
        Side(
            ["--disable-socket"],
            "def test_tcp():\n    socket.create_connection(('127.0.0.1', PORT))\n",
        ),
        Side(
            ["--hermetic-no-network"],
            "def test_tcp():\n    socket.create_connection(('127.0.0.1', PORT))\n",
        ),
        {"failed": 1},
        0,
    ),
    Scenario(
        "disable: DNS lookups fail too",
        Side(
            ["--disable-socket"],
            """
            def test_dns():
                with pytest.raises(RuntimeError):
                    socket.getaddrinfo("localhost", 80)
            """,
        ),
        Side(
            ["--hermetic-no-network"],
            """
            def test_dns():
                with pytest.raises(RuntimeError):
                    socket.getaddrinfo("localhost", 80)
            """,
        ),
        {"passed": 1},
        0,
        needs="dns",
    ),
    Scenario(
        "disable: datagrams fail too",
        Side(["--disable-socket"], "def test_udp():\n    assert udp() == 'blocked'\n"),
        Side(["--hermetic-no-network"], "def test_udp():\n    assert udp() == 'blocked'\n"),
        {"passed": 1},
        0,
    ),
    Scenario(
        "enable_socket marker under --disable-socket",
        Side(
            ["--disable-socket"],
            """
            @pytest.mark.enable_socket
            def test_enabled():
                assert tcp() == "connected"

            def test_other():
                assert tcp() == "blocked"
            """,
        ),
        Side(
            ["--hermetic-no-network"],
            """
            @pytest.mark.hermetic_off
            def test_enabled():
                assert tcp() == "connected"

            def test_other():
                assert tcp() == "blocked"
            """,
        ),
        {"passed": 2},
        1,
    ),
    Scenario(
        "socket_enabled fixture under --disable-socket",
        Side(
            ["--disable-socket"],
            """
            def test_enabled(socket_enabled):
                assert tcp() == "connected"
            """,
        ),
        Side(
            ["--hermetic-no-network"],
            """
            @pytest.mark.hermetic_off("network")
            def test_enabled():
                assert tcp() == "connected"
            """,
        ),
        {"passed": 1},
        1,
    ),
    Scenario(
        "disable_socket marker without a flag",
        Side(
            [],
            """
            @pytest.mark.disable_socket
            def test_disabled():
                assert tcp() == "blocked"

            def test_other():
                assert tcp() == "connected"
            """,
        ),
        Side(
            [],
            """
            @pytest.mark.hermetic(block_network=True)
            def test_disabled():
                assert tcp() == "blocked"

            def test_other():
                assert tcp() == "connected"
            """,
        ),
        {"passed": 2},
        1,
    ),
    Scenario(
        "socket_disabled fixture",
        Side(
            [],
            """
            def test_disabled(socket_disabled):
                assert tcp() == "blocked"
            """,
        ),
        Side(
            [],
            """
            def test_disabled(hermetic):
                hermetic.activate(block_network=True)
                assert tcp() == "blocked"
            """,
        ),
        {"passed": 1},
        0,
    ),
    Scenario(
        "--force-enable-socket overrides flags and markers",
        Side(
            ["--disable-socket", "--force-enable-socket"],
            """
            @pytest.mark.disable_socket
            def test_forced():
                assert tcp() == "connected"
            """,
        ),
        Side(
            ["--hermetic-no-network", "--hermetic-off"],
            """
            @pytest.mark.hermetic(block_network=True)
            def test_forced():
                assert tcp() == "connected"
            """,
        ),
        {"passed": 1},
        1,
    ),
    Scenario(
        "--allow-hosts with an address",
        Side(
            ["--disable-socket", "--allow-hosts=127.0.0.1"],
            """
            def test_hosts():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "blocked"
            """,
        ),
        Side(
            ["--hermetic-no-network", "--hermetic-allow-domain=127.0.0.1"],
            """
            def test_hosts():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "blocked"
            """,
        ),
        {"passed": 1},
        1,
    ),
    Scenario(
        "--allow-hosts with a CIDR range",
        Side(
            ["--disable-socket", "--allow-hosts=127.0.0.0/30"],
            """
            def test_cidr():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "refused"  # allowed, but nothing listens there
                assert tcp("127.0.0.5") == "blocked"
            """,
        ),
        Side(
            ["--hermetic-no-network", "--hermetic-allow-domain=127.0.0.0/30"],
            """
            def test_cidr():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "refused"  # allowed, but nothing listens there
                assert tcp("127.0.0.5") == "blocked"
            """,
        ),
        {"passed": 1},
        1,
        needs="cidr",
    ),
    Scenario(
        "--allow-hosts with a host name",
        Side(
            ["--disable-socket", "--allow-hosts=localhost"],
            """
            def test_name():
                assert tcp("localhost") == "connected"
                assert tcp("127.0.0.2") == "blocked"
            """,
        ),
        Side(
            ["--hermetic-no-network", "--hermetic-allow-domain=localhost"],
            """
            def test_name():
                assert tcp("localhost") == "connected"
                assert tcp("127.0.0.2") == "blocked"
            """,
        ),
        {"passed": 1},
        1,
    ),
    Scenario(
        "allow_hosts marker without a flag",
        Side(
            [],
            """
            @pytest.mark.allow_hosts(["127.0.0.1"])
            def test_hosts():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "blocked"
            """,
        ),
        Side(
            [],
            """
            @pytest.mark.hermetic(block_network=True, allow_domains=["127.0.0.1"])
            def test_hosts():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "blocked"
            """,
        ),
        {"passed": 1},
        1,
    ),
    Scenario(
        "allow_hosts marker under --disable-socket",
        Side(
            ["--disable-socket"],
            """
            @pytest.mark.allow_hosts(["127.0.0.1"])
            def test_hosts():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "blocked"

            def test_other():
                assert tcp() == "blocked"
            """,
        ),
        Side(
            ["--hermetic-no-network"],
            """
            @pytest.mark.hermetic_off("network")
            @pytest.mark.hermetic(block_network=True, allow_domains=["127.0.0.1"])
            def test_hosts():
                assert tcp("127.0.0.1") == "connected"
                assert tcp("127.0.0.2") == "blocked"

            def test_other():
                assert tcp() == "blocked"
            """,
        ),
        {"passed": 2},
        1,
    ),
    Scenario(
        "unix sockets: refused, unless allowed",
        Side(
            ["--disable-socket"],
            """
            def test_unix():
                assert unix() == "blocked"

            @pytest.mark.enable_socket
            def test_enabled():
                assert unix() == "connected"
            """,
        ),
        Side(
            ["--hermetic-no-network"],
            """
            def test_unix():
                assert unix() == "blocked"

            @pytest.mark.hermetic_off
            def test_enabled():
                assert unix() == "connected"
            """,
        ),
        {"passed": 2},
        0,
    ),
    Scenario(
        "--allow-unix-socket",
        Side(
            ["--disable-socket", "--allow-unix-socket"],
            """
            def test_unix():
                assert unix() == "connected"
                a, b = socket.socketpair()
                a.close(), b.close()
            """,
        ),
        Side(
            ["--hermetic-no-network", "--hermetic-allow-localhost"],
            """
            def test_unix():
                assert unix() == "connected"
                a, b = socket.socketpair()
                a.close(), b.close()
            """,
        ),
        {"passed": 1},
        0,
    ),
]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A TCP and a UDP counter on loopback and a listening unix socket."""
    import socket

    path = str(tmp_path / "s.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    try:
        with TCPCounter() as tcp, UDPCounter() as udp:
            yield {"tcp": tcp, "udp": udp, "unix_path": path}
    finally:
        listener.close()


def run_side(
    pytester: pytest.Pytester, servers: dict[str, Any], tool: str, side: Side
) -> pytest.RunResult:
    source = COMMON.format(
        port=servers["tcp"].port, udp_port=servers["udp"].port, unix_path=servers["unix_path"]
    )
    pytester.makepyfile(source + side.body)
    if tool == "pytest-socket":
        # In a subprocess: pytest-socket replaces the socket class process-wide, which
        # would break this process's own loopback servers (their accept() makes sockets).
        return pytester.runpytest_subprocess(
            "-p", "no:hermetic", "-W", "ignore::UserWarning", *side.args
        )
    return pytester.runpytest("-p", "no:socket", *side.args)


@pytest.mark.parametrize("tool", ["pytest-socket", "hermetic"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_behaviour(
    pytester: pytest.Pytester, servers: dict[str, Any], scenario: Scenario, tool: str
) -> None:
    if tool == "pytest-socket" and scenario.needs and not SOCKET_CAN[scenario.needs]:
        pytest.skip(f"this pytest-socket ({scenario.needs}) predates 0.8")
    result = run_side(pytester, servers, tool, scenario.sides[tool])
    result.assert_outcomes(**scenario.outcomes)
    assert servers["tcp"].wait_for(scenario.reached) == scenario.reached
    assert servers["udp"].wait_for(0) == 0


# -- where hermetic deliberately differs --------------------------------------------------

DIFFERENCES = """
import asyncio
import socket

def test_asyncio_event_loop():
    # Its self-pipe is a socketpair: pytest-socket needs --allow-unix-socket for it.
    asyncio.run(asyncio.sleep(0))

def test_creating_a_socket():
    # hermetic refuses what a socket does (connect, bind, send, DNS), not its creation.
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
"""


def test_what_hermetic_allows_that_pytest_socket_refuses(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(DIFFERENCES)
    socket_run = pytester.runpytest_subprocess(
        "-p", "no:hermetic", "-W", "ignore", "--disable-socket"
    )
    socket_run.assert_outcomes(failed=2)
    hermetic_run = pytester.runpytest("-p", "no:socket", "--hermetic-no-network")
    hermetic_run.assert_outcomes(passed=2)


def test_allow_localhost_covers_loopback_tcp_as_well(
    pytester: pytest.Pytester, servers: dict[str, Any]
) -> None:
    # pytest-socket's --allow-unix-socket allows unix sockets only; hermetic's closest
    # switch, --hermetic-allow-localhost, allows loopback TCP too (never another host).
    body = Side(
        ["--disable-socket", "--allow-unix-socket"],
        """
        def test_tcp():
            assert tcp() == "blocked"
        """,
    )
    run_side(pytester, servers, "pytest-socket", body).assert_outcomes(passed=1)
    body = Side(
        ["--hermetic-no-network", "--hermetic-allow-localhost"],
        """
        def test_tcp():
            assert tcp() == "connected"
            with pytest.raises(RuntimeError):
                socket.getaddrinfo("example.com", 443)
        """,
    )
    run_side(pytester, servers, "hermetic", body).assert_outcomes(passed=1)
    assert servers["tcp"].wait_for(1) == 1
