"""Which addresses the mail server, and the token URL of its login, may be at.

An administrator types the server name, and the application connects to it: without a limit that
would let anyone with the mail settings page probe the internal network, the machine itself or a
cloud metadata service. So only public addresses are allowed by default. Loopback, private and
the other special-purpose addresses (RFC 6890's registries: unspecified, CGNAT, documentation,
benchmarking, multicast, reserved, IPv4 inside IPv6 included) are allowed only where an operator
names them in AUTOMMATE_MAIL_ALLOWED_DESTINATIONS, by host name, address or network, optionally
with a port. Link-local addresses (where metadata services live) are never allowed.

The check is made on the addresses the name resolved to, which are then the ones connected to: odd
spellings such as `0`, `2130706433`, `0x7f.1` or `127.1` resolve to the loopback or unspecified
address like any other name, and are refused as such.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from autommate.sentences import sentence as _

from .connection import IPAddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

VARIABLE = "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS"
# The entry that allows every public address; the value of the variable when it is not set.
PUBLIC = "public"
# The roles a destination is checked for; each has its own sentences.
MAIL_SERVER = "mail server"
TOKEN_URL = "token URL"

LINK_LOCAL_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052), and a
# translator would take a connection there: it is judged by that address.
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(
    r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$"
)


class DestinationRefused(Exception):
    """The address is not one that this installation may connect to.

    The message names the host as it was typed, never the addresses it resolved to: the test mail
    must not become a way to learn what internal names lead to.
    """

    def __init__(
        self, message: str, *, host: str = "", port: int | None = None, allowable: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.port = port
        # Whether an operator could allow it; link-local addresses cannot be.
        self.allowable = allowable

    @property
    def how_to_allow(self) -> str:
        """Return what an operator does to allow the destination, or that none can."""
        if not self.allowable:
            return _("No entry in %(variable)s allows a link-local address.") % {
                "variable": VARIABLE
            }
        return how_to_allow(self.host, self.port)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Destination:
    """One entry of the allowed destinations: a host name or a network, on one port or on any."""

    name: str = ""
    network: IPNetwork | None = None
    port: int | None = None

    def allows_port(self, port: int | None) -> bool:
        return self.port is None or self.port == port

    def allows_name(self, host: str, port: int | None) -> bool:
        if not self.name or not self.allows_port(port):
            return False
        if self.name.startswith("*."):
            return host.endswith(self.name[1:])
        return host == self.name

    def allows_address(self, address: IPAddress, port: int | None) -> bool:
        if self.network is None or not self.allows_port(port):
            return False
        return any(
            form.version == self.network.version and form in self.network
            for form in (address, _plain(address))
        )


@dataclass(frozen=True)
class AllowedDestinations:
    """AUTOMMATE_MAIL_ALLOWED_DESTINATIONS, read: what it allows, and the entries it could not."""

    public: bool
    entries: tuple[Destination, ...]
    invalid: tuple[str, ...] = ()


def _normalise_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _plain(address: IPAddress) -> IPAddress:
    """Return the IPv4 address inside an IPv4-mapped or NAT64 IPv6 address, else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64_NETWORK:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_link_local(address: IPAddress) -> bool:
    plain = _plain(address)
    return any(plain.version == n.version and plain in n for n in LINK_LOCAL_NETWORKS)


def is_public(address: IPAddress) -> bool:
    """Return whether the address is a public unicast one, reachable across the internet.

    Python's `is_global` follows IANA's special-purpose registries; multicast, the reserved
    ranges and IPv6's old site-local range are not destinations for mail either.
    """
    plain = _plain(address)
    if not plain.is_global or plain.is_multicast or plain.is_reserved:
        return False
    return not (isinstance(plain, ipaddress.IPv6Address) and plain.is_site_local)


def _port(text: str) -> int | None:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(text)
    return int(text)


def _entry(text: str) -> Destination:
    """Read one entry: a name, address or network, optionally with `:port` (`[v6]:port`)."""
    where, port = text, None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(text)
        where, port = inside, _port(rest[1:]) if rest else None
        return Destination(network=ipaddress.ip_network(where, strict=False), port=port)
    if text.count(":") == 1:
        where, _, number = text.partition(":")
        port = _port(number)
    try:
        return Destination(network=ipaddress.ip_network(where, strict=False), port=port)
    except ValueError:
        name = _normalise_host(where)
        if not _HOST_NAME.match(name):
            raise
        return Destination(name=name, port=port)


def parse_allowed_destinations(value: str) -> AllowedDestinations:
    """Read a comma-separated list of destinations; an empty list means `public`."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        return AllowedDestinations(public=True, entries=())
    public = False
    entries: list[Destination] = []
    invalid: list[str] = []
    for item in items:
        if item.lower() == PUBLIC:
            public = True
            continue
        try:
            entries.append(_entry(item))
        except ValueError:
            invalid.append(item)
    return AllowedDestinations(public=public, entries=tuple(entries), invalid=tuple(invalid))


def allowed_destinations() -> AllowedDestinations:
    """Return the configured destinations, plus the development mail catcher in debug mode."""
    allowed = parse_allowed_destinations(settings.MAIL_ALLOWED_DESTINATIONS)
    if not settings.DEBUG:
        return allowed
    # `make run` starts the catcher beside the server; the README has it entered by address.
    catcher = (
        Destination(
            network=ipaddress.ip_network(settings.DEV_MAIL_HOST), port=settings.DEV_MAIL_PORT
        ),
        Destination(name="localhost", port=settings.DEV_MAIL_PORT),
    )
    return AllowedDestinations(
        public=allowed.public, entries=allowed.entries + catcher, invalid=allowed.invalid
    )


def entry_for(host: str, port: int) -> str:
    """Return the entry that would allow host on port, as an operator would write it."""
    name = _normalise_host(host)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return f"{name}:{port}"
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def check_destination(
    host: str,
    addresses: Sequence[IPAddress],
    *,
    port: int | None = None,
    role: str = MAIL_SERVER,
) -> None:
    """Raise DestinationRefused unless the mail server (or the role named) may be at addresses.

    Link-local addresses are always refused. Otherwise the host name is allowed when an entry
    names it (on this port, if the entry has one), and an address when an entry's network holds
    it, or when it is public and public addresses are allowed. Every address must be allowed,
    since a connection may go to any of them.
    """
    name = _normalise_host(host)
    if any(is_link_local(address) for address in addresses):
        words = {"host": host}
        raise DestinationRefused(
            _(
                "The server name %(host)s leads to a link-local address (the kind used by cloud "
                "metadata services). A token URL may never be at such an address."
            )
            % words
            if role == TOKEN_URL
            else _(
                "The server name %(host)s leads to a link-local address (the kind used by cloud "
                "metadata services). A mail server may never be at such an address."
            )
            % words,
            host=host,
            port=port,
            allowable=False,
        )
    allowed = allowed_destinations()
    if any(entry.allows_name(name, port) for entry in allowed.entries):
        return
    refused = [
        address
        for address in addresses
        if not any(entry.allows_address(address, port) for entry in allowed.entries)
        and not (allowed.public and is_public(address))
    ]
    if addresses and not refused:
        return
    raise DestinationRefused(
        _refusal(
            role=role,
            special=any(not is_public(address) for address in refused),
            on_port=port is not None,
        )
        % {"host": host, "port": port, "variable": VARIABLE},
        host=host,
        port=port,
    )


def _refusal(*, role: str, special: bool, on_port: bool) -> str:
    """Return the sentence that refuses a destination, with %(host)s, %(port)s and %(variable)s."""
    if role == TOKEN_URL:
        if special:
            if on_port:
                return _(
                    "The token URL %(host)s leads to an address that is not among the "
                    "destinations this installation may connect to on port %(port)s: loopback, "
                    "private and other special-purpose addresses are allowed only where "
                    "%(variable)s names them."
                )
            return _(
                "The token URL %(host)s leads to an address that is not among the destinations "
                "this installation may connect to: loopback, private and other special-purpose "
                "addresses are allowed only where %(variable)s names them."
            )
        if on_port:
            return _(
                "The token URL %(host)s is not among the destinations this installation may "
                "connect to on port %(port)s (%(variable)s)."
            )
        return _(
            "The token URL %(host)s is not among the destinations this installation may "
            "connect to (%(variable)s)."
        )
    if special:
        if on_port:
            return _(
                "The mail server %(host)s leads to an address that is not among the destinations "
                "this installation may connect to on port %(port)s: loopback, private and other "
                "special-purpose addresses are allowed only where %(variable)s names them."
            )
        return _(
            "The mail server %(host)s leads to an address that is not among the destinations "
            "this installation may connect to: loopback, private and other special-purpose "
            "addresses are allowed only where %(variable)s names them."
        )
    if on_port:
        return _(
            "The mail server %(host)s is not among the destinations this installation may "
            "connect to on port %(port)s (%(variable)s)."
        )
    return _(
        "The mail server %(host)s is not among the destinations this installation may connect "
        "to (%(variable)s)."
    )


def how_to_allow(host: str, port: int | None) -> str:
    """Return what an operator does to allow the destination, in the words of every front door."""
    if not host:
        return _("An operator can change the allowed destinations with %(variable)s.") % {
            "variable": VARIABLE
        }
    entry = entry_for(host, port) if port is not None else _normalise_host(host)
    return _(
        "To use it, an operator adds %(entry)s to %(variable)s and restarts the application; "
        "where the variable is not set yet, set it to %(public)s,%(entry)s so that mail servers "
        "on the internet stay allowed."
    ) % {"entry": entry, "variable": VARIABLE, "public": PUBLIC}
