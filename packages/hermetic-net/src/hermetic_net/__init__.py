"""hermetic-net: the ``network`` guard.

``block_network=True`` (``--no-network``) refuses sockets, DNS and everything built on them
(``http.client``, ``urllib``, requests, httpx, asyncio); ``allow_localhost=True``
(``--allow-localhost``) lets loopback and AF_UNIX traffic through, and ``allow_domains``
(``--allow-domain D``, repeatable) allows domains with their subdomains, IP addresses and
CIDR ranges.
"""

from __future__ import annotations

from hermetic.contract import AND, Option, define_guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _normalize_domains(value: tuple[str, ...]) -> tuple[str, ...]:
    # Imported on use: ipaddress and re stay off the start-up path of `import hermetic_net`.
    from hermetic_net._entries import normalize_entries

    return normalize_entries(value)


def _merge_domains(a: Any, b: Any) -> tuple[str, ...]:
    from hermetic_net._entries import intersect_entries

    return intersect_entries(a, b)


guard = define_guard(
    "network",
    summary="Refuses sockets, DNS and HTTP, except loopback and the allowed domains.",
    patch_module="hermetic_net._patch",
    options=[
        Option(
            "block_network",
            bool,
            flags=["--no-network"],
            aliases=["no_network"],
            help="Refuse network access: connections, datagrams, DNS lookups and "
            "non-loopback binds.",
            enables=True,
        ),
        Option(
            "allow_localhost",
            bool,
            flags=["--allow-localhost"],
            help="Allow connections to loopback addresses (127.0.0.0/8, ::1), the name "
            "localhost and AF_UNIX sockets.",
            merge=AND,
        ),
        Option(
            "allow_domains",
            list,
            flags=["--allow-domain"],
            metavar="DOMAIN",
            help="Allow a domain and its subdomains, an IP address or a CIDR range.",
            merge=_merge_domains,
            normalize=_normalize_domains,
        ),
    ],
)

__all__ = ["guard"]
