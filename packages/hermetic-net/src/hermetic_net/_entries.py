"""``allow_domains`` entries: validated and made canonical at policy creation, and merged.

An entry is a domain (which also allows its subdomains), an IP address or a CIDR range.
Canonical forms are what the patch module compares against at run time: a domain in lower
case, without a trailing dot, IDNA-encoded (``bücher.example`` -> ``xn--bcher-kva.example``);
an address or range as ``ipaddress`` writes it, an IPv4-mapped IPv6 address as its IPv4
address. A malformed entry is a ``ValueError`` naming it and saying what to write instead,
never an entry that silently matches nothing.
"""

from __future__ import annotations

import ipaddress
import re

from hermetic_net._patch import in_domains

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Union

    Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
_SHAPE = (
    "a domain (example.com), an IP address (192.0.2.7, 2001:db8::7) or a CIDR range (10.0.0.0/8)"
)


def normalize_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate and canonicalise every entry (idempotent); raise ``ValueError`` if one is bad."""
    return tuple(dict.fromkeys(normalize_entry(entry) for entry in entries))


def normalize_entry(entry: str) -> str:
    """The canonical form of one entry; ``ValueError`` with advice if it is malformed."""
    if not isinstance(entry, str):
        raise ValueError(f"entries must be strings, not {entry!r}")
    if not entry:
        raise ValueError(f"an empty entry; give {_SHAPE}")
    if any(c.isspace() for c in entry):
        raise ValueError(f"{entry!r} contains white space; give {_SHAPE}")
    _scheme, sep, rest = entry.partition("://")
    if sep:
        netloc = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
        bracketed = netloc.startswith("[")
        host = netloc[1:].partition("]")[0] if bracketed else netloc.partition(":")[0]
        raise ValueError(f"{entry!r} is a URL; give only its host, e.g. {host or 'example.com'}")
    if "/" in entry:
        return _normalize_range(entry)
    if entry.startswith("["):
        return _normalize_bracketed(entry)
    address = _address(entry)
    if address is not None:
        return address
    if ":" in entry:
        if entry.count(":") == 1:
            host = entry.partition(":")[0]
            raise ValueError(
                f"{entry!r} has a port; allow the host ({host}): the policy covers every port"
            )
        raise ValueError(f"{entry!r} is not a valid IPv6 address")
    return _normalize_domain(entry)


def _address(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            raise ValueError(f"{text!r} has a zone index (%...); give the address without it")
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
    return str(address)


def _normalize_bracketed(entry: str) -> str:
    inner, _, after = entry[1:].partition("]")
    if after.startswith(":"):
        raise ValueError(
            f"{entry!r} has a port; allow the address ({inner}): the policy covers every port"
        )
    address = _address(inner) if not after and ":" in inner else None
    if address is None:
        raise ValueError(f"{entry!r} is not a valid IPv6 address")
    return address


def _normalize_range(entry: str) -> str:
    address = entry.partition("/")[0]
    if _address(address) is None:
        raise ValueError(f"{entry!r} has a path; give only the host name, e.g. {address}")
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError as exc:
        raise ValueError(f"{entry!r} is not a valid CIDR range: {exc}") from None
    if str(network.network_address) != str(ipaddress.ip_address(address)):
        raise ValueError(f"{entry!r} has host bits set; did you mean {network}?")
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        raise ValueError(f"{entry!r} is an IPv4-mapped range; write it as an IPv4 range")
    return str(network)


def _normalize_domain(entry: str) -> str:
    if "*" in entry:
        raise ValueError(
            f"{entry!r}: wildcards are not needed; a domain also allows its subdomains "
            f"(write {entry.lstrip('*.') or 'example.com'})"
        )
    name = entry[:-1] if entry.endswith(".") else entry
    if not name or name.startswith(".") or ".." in name:
        raise ValueError(f"{entry!r} has an empty label; give {_SHAPE}")
    try:
        name = name.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"{entry!r} is not a valid domain name: {exc}") from None
    if len(name) > 253:
        raise ValueError(f"{entry!r} is longer than a domain name can be (253 characters)")
    labels = name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(
                f"{entry!r} is not a valid domain name: label {label!r} must be 1-63 letters, "
                "digits, hyphens or underscores, not starting or ending with a hyphen"
            )
    if labels[-1].isdigit():
        raise ValueError(f"{entry!r} is neither a domain nor a valid IP address")
    return name


def _parse(entry: str) -> str | Network:
    if entry[:1].isdigit() or ":" in entry:
        try:
            return ipaddress.ip_network(entry)
        except ValueError:
            pass
    return entry


def _covers(outer: str | Network, inner: str | Network) -> bool:
    if isinstance(outer, str):
        return isinstance(inner, str) and in_domains(inner, frozenset([outer]))
    if isinstance(inner, str) or inner.version != outer.version:
        return False
    return inner.subnet_of(outer)  # type: ignore[arg-type]


def intersect_entries(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    """Only what both allow-lists allow, respecting subdomains and ranges.

    ``example.com`` with ``api.example.com`` gives ``api.example.com``; ``10.0.0.0/8``
    with ``10.1.0.0/16`` gives ``10.1.0.0/16``; a name and an address never overlap (which
    addresses a name resolves to is not known in advance), so together they allow
    nothing. The result is sorted, so merging is order-independent.
    """
    left = [(entry, _parse(entry)) for entry in a]
    right = [(entry, _parse(entry)) for entry in b]
    kept = {
        entry: parsed
        for side, other in ((left, right), (right, left))
        for entry, parsed in side
        if any(_covers(o, parsed) for _, o in other)
    }
    # An entry inside another kept one adds nothing: keep the widest parts.
    return tuple(
        sorted(
            entry
            for entry, parsed in kept.items()
            if not any(other != entry and _covers(p, parsed) for other, p in kept.items())
        )
    )


__all__ = ["intersect_entries", "normalize_entries", "normalize_entry"]
