"""The network guard's one implementation: standard library only, never imports hermetic.

hermetic imports this module in-process and executes its source inside the bootstrap of a
foreign interpreter. ``install(options, runtime)`` builds two layers, both fed by one
:class:`Rules` object made for that install (no state lives in module globals):

* audit handlers on the events CPython raises in C before the system call: ``connect``
  (``connect_ex`` and every wrapper), ``bind``, ``sendto``, ``sendmsg``, socket creation
  and the four resolver calls. They see every path into those calls, including a socket
  class captured before the guard, ``_socket`` used directly and unbound methods.
* patches where the events come too late or say too little. The resolver functions of
  the ``socket`` module refuse before anything is looked up and remember which addresses
  an allowed name resolved to (an audit event carries a call's arguments, never its
  result). The methods ``connect``, ``connect_ex``, ``bind``, ``sendto`` and ``sendmsg``
  of ``socket.socket`` check first because CPython resolves a host name given in an
  address *before* raising the event: the patch keeps a refused ``connect(("name", 80))``
  from asking DNS about the name. ``socket.getfqdn`` answers without a lookup when the
  lookup is not allowed, which is its documented answer when a lookup fails.

The guard does not import ``socket`` (with ``selectors`` and ``enum`` that is most of the
bootstrap's start-up cost): the patches are made when the program first imports it, through
``runtime.when_imported``, and everything here reads ``_socket``, which is cheap. Until then
the audit layer alone enforces: the only way to a socket meanwhile is ``_socket`` itself,
which it covers as it always did.

What no layer sees is documented in docs/guards/network.md: traffic on a socket that was
already connected (``send``, ``recv``), and sockets opened by C code that does not go
through Python's ``socket`` module.
"""

from __future__ import annotations

import _socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Callable, NoReturn

    Key = tuple[int, int]  # (4 or 6, the address as an int): see ip_key()
    Network = tuple[int, int, int]  # (4 or 6, network prefix as an int, prefix length)

AF_INET: int = _socket.AF_INET
AF_INET6: int = _socket.AF_INET6
AF_UNIX: int = getattr(_socket, "AF_UNIX", -2)
# -1: ``_socket.socket()`` with no arguments (AF_INET) or adopting an fd (``fileno=``);
# what such a socket may do is decided when it connects, binds or sends.
CREATABLE = frozenset((AF_INET, AF_INET6, AF_UNIX, -1))
_INET = (AF_INET, AF_INET6)

# The C-level attribute: an int, without the enum conversion of the Python property.
_family_of: Callable[[Any], int] = _socket.socket.__dict__["family"].__get__
_inet_pton = _socket.inet_pton
_inet_aton = _socket.inet_aton

#: Names that mean this machine (answered from /etc/hosts by the system resolver).
LOOPBACK_NAMES = frozenset(["localhost"])
#: Characters a host name may contain once canonical; anything else (a NUL that the C
#: resolver would truncate at, a space, a wildcard) can never match an allowed domain.
HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_LEGACY_V4_CHARS = frozenset("0123456789abcdefxABCDEFX.")

# What resolving a host means (Rules.kind): nothing is looked up, a name inside an allowed
# domain (its addresses become allowed), a loopback name (allowed under allow_localhost).
NUMERIC = "numeric"
DOMAIN = "domain"
LOCAL = "local"

LOCALHOST_HINT = "use --allow-localhost or allow_localhost=True"
REASON = "network disabled"


def _text(host: Any) -> str | None:
    """A host given as ``str``, ``bytes`` or ``bytearray`` as ``str`` (ASCII only)."""
    if type(host) is str:
        return host
    if isinstance(host, (bytes, bytearray)):
        try:
            return bytes(host).decode("ascii")
        except UnicodeDecodeError:
            return None
    return None


def ip_key(host: Any) -> Key | None:
    """Return ``(4 or 6, address as int)`` for an IP literal, else ``None``.

    Reads the literal the way the C resolver does, so that the key names the address a
    connection would really reach: an IPv4-mapped IPv6 address is its IPv4 address, the
    zone of a scoped IPv6 address is dropped, and the legacy IPv4 forms ``inet_aton``
    accepts (``127.1``, ``0x7f.1``, ``2130706433``, ``0177.0.0.1``) are numbers too.
    """
    text = _text(host)
    if not text:
        return None
    try:
        return 4, int.from_bytes(_inet_pton(AF_INET, text), "big")
    except (OSError, ValueError):
        pass
    if ":" in text:
        try:
            number = int.from_bytes(_inet_pton(AF_INET6, text.partition("%")[0]), "big")
        except (OSError, ValueError):
            return None
        if number >> 32 == 0xFFFF:
            return 4, number & 0xFFFFFFFF
        return 6, number
    if _LEGACY_V4_CHARS.issuperset(text):
        try:
            return 4, int.from_bytes(_inet_aton(text), "big")
        except OSError:
            return None
    return None


def is_loopback(key: Key) -> bool:
    """Whether an :func:`ip_key` is a loopback address (127.0.0.0/8 or ::1)."""
    return key[1] >> 24 == 127 if key[0] == 4 else key[1] == 1


def name_key(host: Any) -> str | None:
    """The canonical form of a host name, or ``None`` if it can never be allowed.

    Lower case, no trailing dot, IDNA-encoded with the codec the ``socket`` module applies
    to a ``str`` host, so the key is the name the resolver is really asked about. A name
    with any other character (a NUL, at which the C resolver would cut it short, a space,
    a wildcard) gives ``None``.
    """
    text = _text(host)
    if not text:
        return None
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    text = text.lower()
    if text.endswith("."):
        text = text[:-1]
    return text if text and HOST_CHARS.issuperset(text) else None


def in_domains(key: str, domains: frozenset[str]) -> bool:
    """Whether canonical name ``key`` is one of ``domains`` or below one (label boundary)."""
    name = key
    while True:
        if name in domains:
            return True
        dot = name.find(".")
        if dot < 0:
            return False
        name = name[dot + 1 :]


def parse_network(entry: str) -> Network | None:
    """``(version, network prefix, prefix length)`` for an IP or CIDR entry, else ``None``."""
    address, slash, prefix = entry.partition("/")
    key = ip_key(address)
    if key is None or "%" in address or (":" in address and key[0] == 4):
        return None  # not an address, or a form normalisation never produces
    bits = 32 if key[0] == 4 else 128
    length = bits if not slash else int(prefix) if prefix.isdigit() else -1
    if not 0 <= length <= bits:
        return None
    return key[0], key[1] >> (bits - length), length


def split_entries(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Split canonical ``allow_domains`` entries into (domains, networks).

    Raises ``ValueError`` for an entry that is neither: the guard refuses to install
    rather than run with an allow-list it cannot read.
    """
    domains = set()
    networks = []
    for entry in entries:
        network = parse_network(entry) if isinstance(entry, str) else None
        if network is not None:
            networks.append(network)
        elif isinstance(entry, str) and entry == name_key(entry):
            domains.add(entry)
        else:
            raise ValueError(f"allow_domains entry {entry!r} is not in canonical form")
    return frozenset(domains), tuple(networks)


def in_networks(key: Key, networks: tuple[Network, ...]) -> bool:
    """Whether an :func:`ip_key` lies in one of ``networks`` (from :func:`split_entries`)."""
    version, number = key
    bits = 32 if version == 4 else 128
    for net_version, prefix, length in networks:
        if net_version == version and number >> (bits - length) == prefix:
            return True
    return False


def show_host(host: Any) -> str:
    """A host as text for messages and ``PolicyViolation.target``."""
    if isinstance(host, (bytes, bytearray)):
        text = bytes(host).decode("ascii", "backslashreplace")
    elif isinstance(host, str):
        text = host
    else:
        return repr(host)
    # A NUL or a control character would hide what follows it in a terminal.
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def show_address(host: Any, port: Any) -> str:
    """``host:port``, with brackets around an IPv6 literal."""
    text = show_host(host)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


def show_unix(address: Any) -> str:
    """An AF_UNIX address as text (``@name`` for the abstract namespace)."""
    if not isinstance(address, (str, bytes, bytearray)):
        try:
            address = address.__fspath__()
        except Exception:
            return repr(address)
    if isinstance(address, (bytes, bytearray)):
        address = bytes(address).decode("utf-8", "backslashreplace")
    return "@" + address[1:] if address.startswith("\0") else str(address)


def family_name(family: int) -> str:
    """``AF_PACKET`` for 17, or the number when the platform has no name for it.

    The name ``socket.AddressFamily(family).name`` gives, read from ``_socket`` the way
    that enum is built (of several names for one number, the first in sorted order), so
    a message never imports ``socket``.
    """
    names = [
        name
        for name, value in vars(_socket).items()
        if name.startswith("AF_") and name.isupper() and value == family
    ]
    return min(names) if names else str(family)


def allow_hint(text: str) -> str:
    """How to allow a host or address through ``allow_domains``."""
    return f"use --allow-domain {text} or allow_domains=[{text!r}]"


class Rules:
    """One install's policy: what may be resolved, reached and bound, plus its memory.

    ``resolved`` holds the addresses that allowed names resolved to while this layer was
    installed; connections to them are allowed. Verdicts are cached per host as given
    (``peers``: may it be reached; ``_kinds``: may it be resolved), so the common allowed
    path costs a dictionary lookup.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        """Read ``allow_localhost`` and ``allow_domains`` from the guard's options."""
        self.localhost = bool(options.get("allow_localhost"))
        self.domains, self.networks = split_entries(options.get("allow_domains") or ())
        self.resolved: set[Key] = set()
        self._kinds: dict[str, str | None] = {}
        self.peers: dict[str, bool] = {}

    def kind(self, host: Any) -> str | None:
        """What resolving ``host`` means: ``NUMERIC``, ``DOMAIN``, ``LOCAL`` or ``None``."""
        cacheable = type(host) is str
        if cacheable:
            found = self._kinds.get(host, 0)
            if found != 0:
                return found  # type: ignore[return-value]
        kind: str | None
        if host is None or host == "" or host == b"" or ip_key(host) is not None:
            kind = NUMERIC  # nothing is looked up: a passive or numeric address
        else:
            key = name_key(host)
            if key is None:
                kind = None
            elif in_domains(key, self.domains):
                kind = DOMAIN
            elif key in LOOPBACK_NAMES:
                kind = LOCAL
            else:
                kind = None
        if cacheable:
            if len(self._kinds) > 4096:
                self._kinds.clear()
            self._kinds[host] = kind
        return kind

    def resolve_allowed(self, kind: str | None) -> bool:
        """Whether a lookup of this :meth:`kind` is allowed."""
        return kind is NUMERIC or kind is DOMAIN or (kind is LOCAL and self.localhost)

    def address_allowed(self, key: Key) -> bool:
        """Whether an :func:`ip_key` may be reached (connect, send, reverse lookup)."""
        if self.localhost and is_loopback(key):
            return True
        return key in self.resolved or in_networks(key, self.networks)

    def peer_allowed(self, host: Any) -> bool:
        """Whether a connection or datagram to ``host`` (IP literal or name) is allowed."""
        cacheable = type(host) is str
        if cacheable:
            found = self.peers.get(host)
            if found is not None:
                return found
        key = ip_key(host)
        if key is not None:
            verdict = self.address_allowed(key)
        else:  # a name: the C code resolves it itself, so it must be one we may resolve
            kind = self.kind(host)
            verdict = kind is not NUMERIC and self.resolve_allowed(kind)
        if cacheable:
            if len(self.peers) > 4096:
                self.peers.clear()
            self.peers[host] = verdict
        return verdict

    def bind_allowed(self, host: Any) -> bool:
        """Whether binding to ``host`` is allowed: loopback always, the network never.

        A wildcard (``""``, ``0.0.0.0``, ``::``) listens on every interface, so it is
        refused; an address inside an allowed range is the user's explicit choice.
        """
        key = ip_key(host)
        if key is not None:
            return is_loopback(key) or in_networks(key, self.networks)
        kind = self.kind(host)
        return kind is not NUMERIC and self.resolve_allowed(kind)

    def remember(self, addresses: Iterable[Any]) -> None:
        """Allow connections to ``addresses``, which an allowed name resolved to."""
        for address in addresses:
            key = ip_key(address)
            if key is not None and key not in self.resolved:
                self.resolved.add(key)
                self.peers.clear()  # an address refused before may be allowed now

    def hint(self, host: Any) -> str:
        """How to allow reaching or resolving ``host``."""
        key = ip_key(host)
        if key is not None:
            return LOCALHOST_HINT if is_loopback(key) else allow_hint(show_host(host))
        name = name_key(host)
        if name is None:
            return "not a valid host name, so no allow_domains entry can match it"
        return LOCALHOST_HINT if name in LOOPBACK_NAMES else allow_hint(name)


def _host_port(address: Any) -> tuple[Any, Any]:
    if type(address) is tuple and address:
        return address[0], address[1] if len(address) > 1 else "?"
    return address, "?"


def install(options: dict[str, Any], runtime: Any) -> None:
    """Install one layer of the network guard; ``options`` holds every option it declares."""
    rules = Rules(options)
    deny: Callable[..., NoReturn] = runtime.deny

    def refuse_family(verb: str, family: int) -> NoReturn:
        name = family_name(family)
        deny(
            f"{verb} an {name} socket",
            name,
            reason=REASON,
            hint="only AF_INET, AF_INET6 and AF_UNIX sockets are usable under block_network",
        )

    def check_peer(sock: Any, address: Any, verb: str) -> None:
        family = _family_of(sock)
        if family in _INET:
            host, port = _host_port(address)
            if rules.peer_allowed(host):
                return
            text = show_host(host)
            deny(f"{verb} {show_address(host, port)}", text, reason=REASON, hint=rules.hint(host))
        if family == AF_UNIX:
            if rules.localhost:
                return
            path = show_unix(address)
            deny(f"{verb} unix socket {path}", path, reason=REASON, hint=LOCALHOST_HINT)
        refuse_family(verb + " a peer through", family)

    known = rules.peers.get

    def allowed_before(sock: Any, address: Any) -> bool:
        # The hot path (a loopback connect under allow_localhost, a datagram to an allowed
        # host): one attribute read and one dictionary lookup, no further calls.
        if type(address) is tuple and address and _family_of(sock) in _INET:
            host = address[0]
            return type(host) is str and known(host) is True
        return False

    def on_connect(_event: str, args: tuple[Any, ...]) -> None:
        if not allowed_before(args[0], args[1]):
            check_peer(args[0], args[1], "connect to")

    def on_send(_event: str, args: tuple[Any, ...]) -> None:
        # sendmsg() without an address is on a connected socket: its connect was checked
        if args[1] is not None and not allowed_before(args[0], args[1]):
            check_peer(args[0], args[1], "send to")

    def check_bind(sock: Any, address: Any) -> None:
        family = _family_of(sock)
        if family == AF_UNIX:
            return  # a local rendezvous; connecting to it is what allow_localhost governs
        if family not in _INET:
            refuse_family("bind", family)
        host, port = _host_port(address)
        if rules.bind_allowed(host):
            return
        if host == "" or host == b"":
            host = "0.0.0.0" if family == AF_INET else "::"
        deny(
            f"bind to {show_address(host, port)}",
            show_host(host),
            reason=REASON,
            hint="bind to a loopback address such as 127.0.0.1 or ::1; only loopback and "
            "allowed ranges can be bound",
        )

    def on_bind(_event: str, args: tuple[Any, ...]) -> None:
        check_bind(args[0], args[1])

    def on_new(_event: str, args: tuple[Any, ...]) -> None:
        if args[1] not in CREATABLE:
            refuse_family("create", args[1])

    def check_resolve(host: Any) -> str | None:
        """Refuse resolving ``host`` unless allowed; return its :meth:`Rules.kind`."""
        kind = rules.kind(host)
        if rules.resolve_allowed(kind):
            return kind
        text = show_host(host)
        deny(f"resolve {text}", text, reason=REASON, hint=rules.hint(host))

    def reverse_allowed(host: Any) -> bool:
        key = ip_key(host)
        if key is not None:
            return rules.address_allowed(key)
        kind = rules.kind(host)
        return kind is not NUMERIC and rules.resolve_allowed(kind)

    def check_reverse(host: Any) -> None:
        if reverse_allowed(host):
            return
        text = show_host(host)
        deny(f"reverse lookup of {text}", text, reason=REASON, hint=rules.hint(host))

    def on_resolve(_event: str, args: tuple[Any, ...]) -> None:
        check_resolve(args[0])

    def on_reverse(_event: str, args: tuple[Any, ...]) -> None:
        check_reverse(args[0])

    def on_nameinfo(_event: str, args: tuple[Any, ...]) -> None:
        check_reverse(_host_port(args[0])[0])

    handlers: tuple[tuple[str, Callable[[str, tuple[Any, ...]], None]], ...] = (
        ("socket.__new__", on_new),
        ("socket.connect", on_connect),  # also connect_ex, and every wrapper of either
        ("socket.bind", on_bind),
        ("socket.sendto", on_send),
        ("socket.sendmsg", on_send),
        ("socket.getaddrinfo", on_resolve),
        ("socket.gethostbyname", on_resolve),  # also raised by gethostbyname_ex
        ("socket.gethostbyaddr", on_reverse),
        ("socket.getnameinfo", on_nameinfo),
    )
    for event, handler in handlers:
        runtime.on_audit(event, handler)

    # CPython parses an address, resolving a host name in it, *before* it raises the
    # audit event of connect, bind or sendto: without these checks a refused
    # connect(("name", port)) would still have asked DNS about the name.
    def before_connect(sock: Any, *args: Any) -> None:
        if args and not allowed_before(sock, args[0]):
            check_peer(sock, args[0], "connect to")

    def before_bind(sock: Any, *args: Any) -> None:
        if args:
            check_bind(sock, args[0])

    def before_sendto(sock: Any, *args: Any) -> None:
        if len(args) >= 2:  # sendto(data, address) or sendto(data, flags, address)
            check_peer(sock, args[-1], "send to")

    def before_sendmsg(sock: Any, *args: Any) -> None:
        if len(args) >= 4 and args[3] is not None:  # (buffers, ancdata, flags, address)
            check_peer(sock, args[3], "send to")

    checks: tuple[tuple[str, Callable[..., None]], ...] = (
        ("connect", before_connect),
        ("connect_ex", before_connect),
        ("bind", before_bind),
        ("sendto", before_sendto),
        ("sendmsg", before_sendmsg),
    )

    def getaddrinfo(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kind = check_resolve(args[0] if args else kwargs.get("host"))
        found = original(*args, **kwargs)
        if kind is DOMAIN:
            rules.remember([entry[4][0] for entry in found])
        return found

    def gethostbyname(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kind = check_resolve(args[0] if args else kwargs.get("hostname"))
        found = original(*args, **kwargs)
        if kind is DOMAIN:
            rules.remember([found])
        return found

    def gethostbyname_ex(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kind = check_resolve(args[0] if args else kwargs.get("hostname"))
        found = original(*args, **kwargs)
        if kind is DOMAIN:
            rules.remember(found[2])
        return found

    def patch_socket(module: Any) -> None:
        # Run once the program imports socket (at once if it has); again for a module
        # executed anew (importlib.reload, a fresh copy) while socket was not imported
        # before this layer: see GuardRuntime.when_imported.
        for method, check in checks:
            runtime.check_before(module.socket, method, check)

        def getfqdn(original: Callable[..., Any], name: Any = "") -> Any:
            target = name.strip() if isinstance(name, str) else name
            if not target or target in ("0.0.0.0", "::"):
                target = module.gethostname()
            if reverse_allowed(target):
                return original(name)
            return target  # what getfqdn answers when the lookup fails, without asking

        runtime.wrap(module, "getaddrinfo", getaddrinfo)
        runtime.wrap(module, "gethostbyname", gethostbyname)
        runtime.wrap(module, "gethostbyname_ex", gethostbyname_ex)
        runtime.wrap(module, "getfqdn", getfqdn)

    runtime.when_imported("socket", patch_socket)
