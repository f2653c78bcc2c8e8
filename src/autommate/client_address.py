"""The address of the client behind a request, trusting only the proxies the operator declared."""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.http import HttpRequest

# An address with a port, as some proxies write X-Forwarded-For: "192.0.2.7:4711" or
# "[2001:db8::7]:4711" (a bracketed IPv6 address may also come without a port).
_WITH_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\](?::\d{1,5})?|(?P<v4>[0-9.]+):\d{1,5})$")


def client_address(request: HttpRequest) -> str:
    """Return the client's IP address.

    With `AUTOMMATE_TRUSTED_PROXIES=N`, the N-th address from the right of `X-Forwarded-For`
    is the client (each trusted proxy appends the address it saw); entries further left were
    written by the client and are ignored. An entry with a port is read without it.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 - unknown client, not a bind
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < proxies:
        return remote
    return forwarded_address(forwarded[-proxies]) or remote


def forwarded_address(entry: str) -> str | None:
    """Return the IP address an `X-Forwarded-For` entry names, with or without a port."""
    candidates = [entry]
    match = _WITH_PORT.match(entry)
    if match:
        candidates.insert(0, match["v6"] or match["v4"])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def client_network(address: str) -> str:
    """Return what a per-client limit counts for a client address.

    An IPv6 client is its network of `AUTOMMATE_IPV6_CLIENT_PREFIX` bits (64 by default):
    one subscriber usually holds a whole /64 and can use any address in it, so counting single
    addresses would give every client billions of allowances. An IPv4 address (also one mapped
    into IPv6) counts alone.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = ipaddress.IPv6Network((ip, settings.IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(ip)


def client_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the client `address` as an IP address (an IPv4-mapped one as IPv4), or None."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def in_monitoring_network(address: str) -> bool:
    """Say whether the client `address` is in `AUTOMMATE_MONITORING_NETWORKS`."""
    ip = client_ip(address)
    return ip is not None and any(ip in network for network in settings.MONITORING_NETWORKS)
