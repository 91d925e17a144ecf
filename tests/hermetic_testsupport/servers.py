"""Loopback servers that count what reached them, to prove a blocked call really was."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class TCPCounter:
    """A TCP listener on loopback that accepts and counts connections.

    Use as a context manager; ``address`` is ``(host, port)``. ``wait_for(n)`` waits a
    little for in-flight connections so that "0 connections" is a real observation.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.host, self.port = self.address
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.count += 1
            conn.close()

    def wait_for(self, n: int, timeout: float = 1.0) -> int:
        """Wait until ``n`` connections arrived (or ``timeout``); return the count."""
        deadline = time.monotonic() + timeout
        while self.count < n and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # let stragglers land, so a count of 0 means nothing came
        return self.count

    def __enter__(self) -> TCPCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class UDPCounter:
    """A UDP socket on loopback that counts the datagrams it receives."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.host, self.port = self.address
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            self.count += 1

    def wait_for(self, n: int, timeout: float = 1.0) -> int:
        """Wait until ``n`` datagrams arrived (or ``timeout``); return the count."""
        deadline = time.monotonic() + timeout
        while self.count < n and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        return self.count

    def __enter__(self) -> UDPCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    server: Any

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        body = b"hello from loopback\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    hits: list[str]


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextmanager
def http_counter(host: str = "127.0.0.1") -> Iterator[_Server]:
    """An HTTP server on loopback answering ``GET`` with 200; ``server.hits`` lists paths.

    ``server.url`` is its base URL (``http://127.0.0.1:PORT`` or ``http://[::1]:PORT``).
    """
    cls = _Server6 if ":" in host else _Server
    server = cls((host, 0), _CountingHandler)
    server.hits = []
    port = server.server_address[1]
    server.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)
