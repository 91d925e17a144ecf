"""The guard's declarations, its allow-list entries and how policies with them merge."""

from __future__ import annotations

import pytest

import hermetic_net
from hermetic import BlockConfig, hermetic_blocker
from hermetic.contract import AND, OR
from hermetic.errors import PolicyError
from hermetic.registry import registry
from hermetic_net import _patch
from hermetic_net._entries import intersect_entries, normalize_entries
from hermetic_testsupport.runs import modules_imported_by


def test_the_guard_is_registered_with_its_options() -> None:
    guard = registry().guards["network"]
    assert guard is hermetic_net.guard
    assert guard.distribution == "hermetic-net"
    assert guard.patch_module == "hermetic_net._patch"
    options = {o.name: o for o in guard.options}
    assert list(options) == ["block_network", "allow_localhost", "allow_domains"]
    block, localhost, domains = options.values()
    assert (block.type, block.flags, block.aliases, block.enables, block.merge) == (
        bool,
        ("--no-network",),
        ("no_network",),
        True,
        OR,
    )
    assert (localhost.type, localhost.flags, localhost.enables, localhost.merge) == (
        bool,
        ("--allow-localhost",),
        False,
        AND,
    )
    assert (domains.type, domains.flags, domains.metavar, domains.enables) == (
        list,
        ("--allow-domain",),
        "DOMAIN",
        False,
    )
    assert callable(domains.merge) and callable(domains.normalize)


def test_importing_the_package_stays_cheap() -> None:
    costly = {"typing", "threading", "ast", "importlib.util", "dataclasses", "inspect", "re"}
    costly |= {"ipaddress", "socket", "hermetic_net._patch", "hermetic_net._entries"}
    assert modules_imported_by("import hermetic_net") & costly == set()


def test_the_patch_module_imports_only_what_it_patches() -> None:
    new = modules_imported_by("import hermetic_net._patch")
    new -= {"hermetic_net", "hermetic_net._patch"}
    new -= {m for m in new if m.startswith(("hermetic.", "hermetic"))}
    # socket brings its own (_socket, selectors, enum...): nothing else on top
    assert new <= modules_imported_by("import socket") | {"__future__"}


# -- entries ------------------------------------------------------------------------------

CANONICAL = [
    ("example.com", "example.com"),
    ("Example.COM.", "example.com"),
    ("api.internal.com", "api.internal.com"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
    ("Straße.example", "strasse.example"),  # IDNA 2003, as the socket module encodes it
    ("localhost", "localhost"),
    ("_service._tcp.example.com", "_service._tcp.example.com"),
    ("1password.com", "1password.com"),
    ("93.184.216.34", "93.184.216.34"),
    ("2001:DB8::0:7", "2001:db8::7"),
    ("[::1]", "::1"),
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("10.0.0.0/8", "10.0.0.0/8"),
    ("2001:db8::/32", "2001:db8::/32"),
    ("192.0.2.7/32", "192.0.2.7/32"),
]


@pytest.mark.parametrize(("entry", "canonical"), CANONICAL)
def test_entries_are_canonicalised_idempotently(entry: str, canonical: str) -> None:
    assert normalize_entries([entry]) == (canonical,)
    assert normalize_entries([canonical]) == (canonical,)
    # the patch module reads every canonical form
    _patch.split_entries([canonical])


MALFORMED = [
    ("", "empty"),
    (" example.com", "white space"),
    ("example .com", "white space"),
    ("https://example.com/path", "is a URL; give only its host, e.g. example.com"),
    ("http://user@example.com:8080/a@b", "e.g. example.com"),
    ("https://[2001:db8::1]:443/", "e.g. 2001:db8::1"),
    ("file:///etc/hosts", "e.g. example.com"),
    ("example.com/api", "has a path"),
    ("example.com:443", "has a port; allow the host (example.com)"),
    ("93.184.216.34:443", "has a port"),
    ("[::1]:80", "has a port; allow the address (::1)"),
    ("*.example.com", "wildcards are not needed; a domain also allows its subdomains"),
    ("10.1.2.3/8", "has host bits set; did you mean 10.0.0.0/8?"),
    ("10.0.0.0/33", "not a valid CIDR range"),
    ("::ffff:0:0/96", "IPv4-mapped range"),
    ("fe80::1%eth0", "zone index"),
    ("127.1", "neither a domain nor a valid IP address"),
    ("010.0.0.1", "neither a domain nor a valid IP address"),
    ("a..b", "empty label"),
    (".example.com", "empty label"),
    ("-bad.example", "not a valid domain name"),
    ("exa!mple.com", "not a valid domain name"),
    ("1:2:3", "not a valid IPv6 address"),
    ("x" * 64 + ".com", "not a valid domain name"),
]


@pytest.mark.parametrize(("entry", "message"), MALFORMED)
def test_malformed_entries_fail_at_policy_creation(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        normalize_entries([entry])
    assert message in str(info.value)
    with pytest.raises(PolicyError, match="invalid allow_domains: ") as error:
        hermetic_blocker(block_network=True, allow_domains=[entry])
    assert message in str(error.value)


def test_a_single_string_is_not_taken_for_a_list() -> None:
    with pytest.raises(PolicyError, match=r"allow_domains=\['example.com'\]"):
        hermetic_blocker(block_network=True, allow_domains="example.com")


def test_entries_are_deduplicated_after_canonicalisation() -> None:
    cfg = BlockConfig(block_network=True, allow_domains=["Example.com", "example.com."])
    assert cfg.allow_domains == ("example.com",)


# -- merging ------------------------------------------------------------------------------

INTERSECTIONS = [
    (["example.com"], ["api.example.com"], ("api.example.com",)),
    (["api.example.com"], ["example.com"], ("api.example.com",)),
    (["example.com"], ["example.com"], ("example.com",)),
    (["example.com"], ["example.org"], ()),
    (["api.example.com"], ["evilapi.example.com"], ()),
    (["example.com", "api.example.com"], ["example.com"], ("example.com",)),
    (["a.com", "b.com"], ["x.a.com", "b.com", "c.com"], ("b.com", "x.a.com")),
    (["10.0.0.0/8"], ["10.1.0.0/16"], ("10.1.0.0/16",)),
    (["10.0.0.0/8"], ["10.1.2.3"], ("10.1.2.3",)),
    (["10.0.0.0/8"], ["192.168.0.0/16"], ()),
    (["::/0"], ["::1"], ("::1",)),
    (["0.0.0.0/0"], ["::1"], ()),
    (["example.com"], ["93.184.216.34"], ()),  # which addresses a name has is not known
    ([], ["example.com"], ()),
]


@pytest.mark.parametrize(("a", "b", "both"), INTERSECTIONS)
def test_allow_lists_merge_to_what_both_allow(
    a: list[str], b: list[str], both: tuple[str, ...]
) -> None:
    assert intersect_entries(a, b) == both
    assert intersect_entries(b, a) == both
    assert normalize_entries(both) == both


def test_stacked_policies_merge_stricter_wins() -> None:
    outer = BlockConfig(block_network=True, allow_localhost=True, allow_domains=["example.com"])
    inner = BlockConfig(block_network=True, allow_domains=["API.example.com"])
    merged = outer | inner
    assert merged.block_network is True
    assert merged.allow_localhost is False
    assert merged.allow_domains == ("api.example.com",)
    # a policy that does not switch the guard on widens nothing
    assert (outer | BlockConfig(allow_domains=["other.test"])).allow_domains == ("example.com",)


def test_the_alias_spells_the_same_option() -> None:
    assert BlockConfig(no_network=True) == BlockConfig(block_network=True)
    assert hermetic_blocker(no_network=True).config.block_network is True


def test_a_guard_with_a_broken_allow_list_refuses_to_install() -> None:
    class Handle:
        def on_audit(self, *args: object) -> None:
            raise AssertionError("nothing may be installed")

        wrap = on_audit

    with pytest.raises(ValueError, match="not in canonical form"):
        _patch.install({"block_network": True, "allow_domains": ("Not Canonical",)}, Handle())
