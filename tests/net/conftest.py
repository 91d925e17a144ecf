"""Fixtures of the network guard's tests: a fake resolver, an AF_UNIX counter, TLS files,
and runs in three delivery modes.

Nothing here touches the internet: names are either ``localhost`` (answered from
/etc/hosts) or answered by :class:`FakeResolver`, which stands in for the C resolver below
the guard, so even a broken guard could not send a DNS query.
"""

from __future__ import annotations

import _socket
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic.policy import BlockConfig
from hermetic_testsupport.runs import PRELUDE, GuardedRun, run_guarded, write_bootstrap

#: "inprocess" and "bootstrap" as in the shared fixtures (bootstrap: a bare venv where
#: hermetic is not importable); "bootstrap-venv": this test interpreter, where requests,
#: urllib3 and httpx are installed, with the assembled sitecustomize on PYTHONPATH.
ALL_MODES = ("inprocess", "bootstrap", "bootstrap-venv")

#: Extra lines for bodies: ``report(label, value)`` records a value next to the attempts.
REPORT = """
def report(label, value):
    _sys.stdout.write("@@" + _json.dumps([label, "value", value]) + "\\n")
    _sys.stdout.flush()
"""

NetRun = Callable[..., GuardedRun]


def run_with(
    mode: str,
    policy: dict[str, Any],
    body: str,
    *,
    bare_python: str,
    tmp_path: Path,
    prefix: list[str] | None = None,
    timeout: float = 60,
) -> GuardedRun:
    """Run ``body`` under ``policy`` in a fresh interpreter; ``prefix`` wraps the command."""
    body = REPORT + textwrap.dedent(body)
    if mode != "bootstrap-venv" and not prefix:
        return run_guarded(
            mode, policy, body, bare_python=bare_python, tmp_path=tmp_path, timeout=timeout
        )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if mode == "inprocess":
        code = (
            PRELUDE
            + "from hermetic import hermetic_blocker as _hb\n"
            + f"with _hb(**{policy!r}):\n"
            + textwrap.indent(body, "    ")
        )
        argv = [sys.executable, "-c", code]
    else:
        root = tmp_path / "hermetic-cache"
        env["PYTHONPATH"] = write_bootstrap(BlockConfig(**policy), root)
        python = sys.executable if mode == "bootstrap-venv" else bare_python
        argv = [python, "-c", PRELUDE + body]
    proc = subprocess.run(
        [*(prefix or []), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=timeout,
    )
    return GuardedRun.of(proc)


@pytest.fixture
def net_run(bare_python: str, tmp_path: Path) -> NetRun:
    """``net_run(mode, policy, body, prefix=None)``: a guarded run in any of ALL_MODES."""

    def run(mode: str, policy: dict[str, Any], body: str, **kwargs: Any) -> GuardedRun:
        return run_with(mode, policy, body, bare_python=bare_python, tmp_path=tmp_path, **kwargs)

    return run


class UnixCounter:
    """An AF_UNIX listener (stream) or receiver (datagram) that counts what arrives."""

    def __init__(self, kind: int = socket.SOCK_STREAM) -> None:
        # A short directory of its own: AF_UNIX paths are limited to ~107 bytes.
        self.directory = tempfile.mkdtemp(prefix="hn-")
        self.path = os.path.join(self.directory, "s.sock")
        self.kind = kind
        self.sock = socket.socket(socket.AF_UNIX, kind)
        self.sock.bind(self.path)
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self.kind == socket.SOCK_STREAM:
                    self.sock.accept()[0].close()
                else:
                    self.sock.recv(65536)
            except (socket.timeout, OSError):
                continue
            self.count += 1

    def wait_for(self, n: int, timeout: float = 1.0) -> int:
        """Wait until ``n`` connections or datagrams arrived (or ``timeout``); return the count."""
        deadline = time.monotonic() + timeout
        while self.count < n and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        return self.count

    def __enter__(self) -> UnixCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class FakeResolver:
    """Canned answers in place of the system resolver, counting what it was asked.

    Installed *below* the guard (``_socket.getaddrinfo``, which ``socket.getaddrinfo``
    calls, and the ``socket.gethostbyname(_ex)`` attributes the guard wraps), before any
    blocker is entered. So a name the guard refuses shows up as a count of zero: the
    resolver was never consulted. IP literals are answered as themselves (not counted);
    unknown names raise ``socket.gaierror``; nothing ever reaches a real DNS server.
    """

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = {name.lower(): addresses for name, addresses in answers.items()}
        self.asked: list[str] = []

    def _lookup(self, host: Any) -> list[str]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(family, name)
            except OSError:
                continue
            return [name]  # a numeric host: the real resolver answers it without asking
        self.asked.append(name)
        key = name.encode("idna").decode() if not name.isascii() else name
        key = key.lower().rstrip(".")
        if key not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (fake)")
        return self.answers[key]

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple[Any, ...]]:
        out = []
        for address in self._lookup(host):
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (0, fam):
                sockaddr = (
                    (address, int(port or 0), 0, 0)
                    if ":" in address
                    else (
                        address,
                        int(port or 0),
                    )
                )
                out.append((fam, type or socket.SOCK_STREAM, proto or 6, "", sockaddr))
        return out

    def gethostbyname(self, host: Any) -> str:
        return self._lookup(host)[0]

    def gethostbyname_ex(self, host: Any) -> tuple[str, list[str], list[str]]:
        return str(host), [], self._lookup(host)


@pytest.fixture
def fake_resolver(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[dict[str, list[str]]], FakeResolver]:
    """``fake_resolver({name: [addresses]})`` installs a :class:`FakeResolver`."""

    def install(answers: dict[str, list[str]]) -> FakeResolver:
        fake = FakeResolver(answers)
        monkeypatch.setattr(_socket, "getaddrinfo", fake.getaddrinfo)
        monkeypatch.setattr(socket, "gethostbyname", fake.gethostbyname)
        monkeypatch.setattr(socket, "gethostbyname_ex", fake.gethostbyname_ex)
        return fake

    return install


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1: ``(cert, key)`` paths.

    Made with the ``openssl`` command (the standard library cannot make certificates and
    no test dependency can); the TLS tests are skipped where it is missing.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = str(where / "cert.pem"), str(where / "key.pem")
    proc = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {proc.stderr.strip()}")
    return cert, key


class TLSEcho:
    """A TLS server on loopback: answers each message with ``echo:`` + the message."""

    def __init__(self, cert: str, key: str, host: str = "127.0.0.1") -> None:
        import ssl

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.count = 0
        self.handshakes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.count += 1
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes += 1
                    data = tls.recv(1024)
                    if data.startswith(b"GET "):
                        body = b"tls hello"
                        tls.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                            % (len(body), body)
                        )
                    else:
                        tls.sendall(b"echo:" + data)
            except OSError:
                conn.close()

    def __enter__(self) -> TLSEcho:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def strace_usable() -> str | None:
    """The path of a working ``strace``, or ``None`` (missing, or ptrace not permitted)."""
    path = shutil.which("strace")
    if path is None:
        return None
    probe = subprocess.run(
        [path, "-f", "-e", "trace=openat", "-o", os.devnull, sys.executable, "-c", "pass"],
        capture_output=True,
    )
    return path if probe.returncode == 0 else None


@pytest.fixture(scope="session")
def strace() -> str:
    """A working ``strace`` (the test is skipped without one)."""
    path = strace_usable()
    if path is None:
        pytest.skip("strace is missing or cannot trace here")
    return path


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy variables: HTTP clients must go straight to the loopback servers."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    yield
