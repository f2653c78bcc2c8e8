"""Which addresses the mail server may be at.

An administrator types the server name, and the application connects to it: without a limit that
would let anyone with the mail settings page probe the internal network or a cloud metadata
service. Link-local addresses (where metadata services live) are never allowed; operators can
narrow the rest with AUTOMMATE_MAIL_ALLOWED_DESTINATIONS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from django.conf import settings

from .connection import IPAddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LINK_LOCAL_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)


class DestinationRefused(Exception):
    """The mail server's address is not one that this installation may connect to."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _normalise_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _plain(address: IPAddress) -> IPAddress:
    """Return the IPv4 address inside an IPv4-mapped IPv6 address, so it meets IPv4 rules."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def allowed_destinations(value: str | None = None) -> tuple[list[str], list[IPNetwork]]:
    """Parse AUTOMMATE_MAIL_ALLOWED_DESTINATIONS into host names and networks."""
    raw = settings.MAIL_ALLOWED_DESTINATIONS if value is None else value
    names: list[str] = []
    networks: list[IPNetwork] = []
    for entry in (item.strip() for item in raw.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.append(_normalise_host(entry))
    return names, networks


def _name_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def check_destination(
    host: str, addresses: Sequence[IPAddress], *, role: str = "mail server"
) -> None:
    """Raise DestinationRefused unless the mail server (or the role named) may be at addresses.

    Link-local addresses are always refused. When allowed destinations are configured, either
    the host name matches one of them, or every address lies in one of the allowed ranges.
    """
    name = _normalise_host(host)
    for address in addresses:
        plain = _plain(address)
        if any(plain in network for network in LINK_LOCAL_NETWORKS):
            raise DestinationRefused(
                f"The server name {host} leads to {address}, a link-local address (the kind "
                f"used by cloud metadata services). A {role} may never be at such an address."
            )
    names, networks = allowed_destinations()
    if not names and not networks:
        return
    if any(_name_matches(name, pattern) for pattern in names):
        return
    outside = [
        address
        for address in addresses
        if not any(_plain(address) in network for network in networks)
    ]
    if addresses and not outside:
        return
    shown = ", ".join(str(address) for address in (outside or addresses)) or "no address"
    raise DestinationRefused(
        f"The {role} {host} ({shown}) is not among the destinations this installation "
        "may connect to."
    )
