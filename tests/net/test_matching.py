"""How the patch module reads hosts and decides: label boundaries, IDNA, IP forms, ranges.

These are the pure functions both layers share; the tests in test_surfaces.py and
test_dns.py show the same decisions on real calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from hermetic_net._entries import normalize_entries
from hermetic_net._patch import DOMAIN, LOCAL, NUMERIC, Rules, ip_key, is_loopback, name_key


def rules(*entries: str, localhost: bool = False) -> Rules:
    return Rules({"allow_localhost": localhost, "allow_domains": normalize_entries(entries)})


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.internal.com", True),
        ("x.api.internal.com", True),
        ("a.b.x.api.internal.com", True),
        ("API.Internal.COM", True),
        ("api.internal.com.", True),
        (b"api.internal.com", True),
        ("evilapi.internal.com", False),
        ("api.internal.com.evil.test", False),
        ("internal.com", False),
        ("com", False),
        ("api-internal.com", False),
        ("xapi.internal.com", False),
        ("api.internal.co", False),
        ("api.internal.com\x00.x", False),
        ("x.api.internal.com\x00", False),
        ("evil.test\x00.api.internal.com", False),  # the C resolver would ask for evil.test
        ("evil.test .api.internal.com", False),
        ("*.api.internal.com", False),
        ("\u0430pi.internal.com", False),  # a Cyrillic a: another name entirely
        ("", False),
    ],
)
def test_domains_match_exactly_or_as_a_parent_on_a_label_boundary(host: Any, allowed: bool) -> None:
    assert rules("api.internal.com").peer_allowed(host) is allowed
    assert (rules("api.internal.com").kind(host) is DOMAIN) is allowed


def test_idna_names_match_their_canonical_entry() -> None:
    r = rules("bücher.example")
    assert r.kind("BÜCHER.example.") is DOMAIN
    assert r.kind("shop.xn--bcher-kva.example") is DOMAIN
    assert r.kind("bucher.example") is None
    assert name_key("Bücher.Example.") == "xn--bcher-kva.example"
    assert name_key("\udcff.example") is None  # cannot be encoded: never allowed


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("127.0.0.1", (4, 0x7F000001)),
        ("127.1", (4, 0x7F000001)),  # legacy forms the C resolver accepts
        ("0x7f.1", (4, 0x7F000001)),
        ("2130706433", (4, 0x7F000001)),
        ("0177.0.0.1", (4, 0x7F000001)),
        (b"127.0.0.1", (4, 0x7F000001)),
        ("::1", (6, 1)),
        ("0:0:0:0:0:0:0:1", (6, 1)),
        ("::ffff:127.0.0.1", (4, 0x7F000001)),  # v4-mapped: the v4 address it reaches
        ("::ffff:7f00:1", (4, 0x7F000001)),
        ("fe80::1%lo", (6, 0xFE80 << 112 | 1)),
        ("example.com", None),
        ("127.0.0.1 ", None),
        ("1.2.3.4x", None),
        ("", None),
        (None, None),
        (7, None),
    ],
)
def test_ip_literals_are_read_as_the_resolver_reads_them(host: Any, key: Any) -> None:
    assert ip_key(host) == key


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::2", False),
        ("::127.0.0.1", False),  # IPv4-compatible (not mapped): an IPv6 address
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    key = ip_key(host)
    assert key is not None and is_loopback(key) is loopback
    assert rules(localhost=True).peer_allowed(host) is loopback
    assert rules().peer_allowed(host) is False


@pytest.mark.parametrize(
    ("entries", "host", "allowed"),
    [
        (("10.0.0.0/8",), "10.200.3.4", True),
        (("10.0.0.0/8",), "11.0.0.1", False),
        (("10.0.0.0/8",), "::ffff:10.0.0.1", True),
        (("192.0.2.7",), "192.0.2.7", True),
        (("192.0.2.7",), "192.0.2.8", False),
        (("2001:db8::/32",), "2001:db8:1::5", True),
        (("2001:db8::/32",), "2001:db9::5", False),
        (("::1",), "::1", True),
        (("::1",), "127.0.0.1", False),
        (("::1",), "::ffff:127.0.0.1", False),  # v4 loopback is not ::1
        (("0.0.0.0/0",), "203.0.113.9", True),
        (("0.0.0.0/0",), "2001:db8::1", False),
    ],
)
def test_addresses_and_ranges(entries: tuple[str, ...], host: str, allowed: bool) -> None:
    assert rules(*entries).peer_allowed(host) is allowed


def test_an_allowed_range_does_not_allow_resolving_names() -> None:
    assert rules("10.0.0.0/8").kind("intranet.example") is None


def test_kinds_of_lookups() -> None:
    r = rules("example.com", localhost=True)
    assert r.kind(None) is NUMERIC
    assert r.kind("") is NUMERIC
    assert r.kind("192.0.2.1") is NUMERIC
    assert r.kind("localhost") is LOCAL
    assert r.kind("LocalHost.") is LOCAL
    assert r.kind("localhost.example") is None
    assert r.kind("foo.localhost") is None  # may go to DNS: not a loopback name here
    assert r.kind("www.example.com") is DOMAIN
    assert rules("localhost").kind("localhost") is DOMAIN


def test_addresses_resolved_from_allowed_names_become_reachable() -> None:
    r = rules("example.com")
    assert not r.peer_allowed("192.0.2.80")
    r.remember(["192.0.2.80", "2001:db8::80", "fe80::1%eth0"])
    assert r.peer_allowed("192.0.2.80")
    assert r.peer_allowed("::ffff:192.0.2.80")
    assert r.peer_allowed("2001:db8::80")
    assert r.peer_allowed("fe80::1%eth1")
    assert not r.peer_allowed("192.0.2.81")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("", False),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("10.1.2.3", True),  # inside the allowed range
        ("localhost", False),  # a name bind resolves itself: only under allow_localhost
        ("<broadcast>", False),
    ],
)
def test_bind(host: str, allowed: bool) -> None:
    assert rules("10.0.0.0/8").bind_allowed(host) is allowed


def test_bind_to_localhost_by_name_under_allow_localhost() -> None:
    assert rules(localhost=True).bind_allowed("localhost") is True


def test_verdict_caches_stay_bounded() -> None:
    r = rules("example.com")
    for i in range(10_000):
        r.peer_allowed(f"h{i}.example.net")
        r.kind(f"h{i}.example.net")
    assert len(r.peers) <= 4097 and len(r._kinds) <= 4097
