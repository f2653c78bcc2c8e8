"""The address of the client behind a request, trusting only the proxies the operator declared."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# An address with a port, as some proxies write X-Forwarded-For: "192.0.2.7:4711" or
# "[2001:db8::7]:4711" (a bracketed IPv6 address may also come without a port).
_WITH_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\](?::\d{1,5})?|(?P<v4>[0-9.]+):\d{1,5})$")


def client_address(request: HttpRequest) -> str:
    """Return the client's IP address.

    With `AUTOMMATE_TRUSTED_PROXY_NETWORKS`, `X-Forwarded-For` counts only when the connection
    comes from one of those networks: from the right, each entry written by a trusted proxy is
    followed until an address outside them, which is the client (at most
    `AUTOMMATE_TRUSTED_PROXIES` entries, when that is set too). Without it, with
    `AUTOMMATE_TRUSTED_PROXIES=N`, the N-th address from the right is the client whoever
    connected (each trusted proxy appends the address it saw); entries further left were
    written by the client and are ignored. An entry with a port is read without it.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 - unknown client, not a bind
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if settings.TRUSTED_PROXY_NETWORKS:
        return _behind_trusted_networks(remote, forwarded)
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0 or len(forwarded) < proxies:
        return remote
    return forwarded_address(forwarded[-proxies]) or remote


def _behind_trusted_networks(remote: str, forwarded: list[str]) -> str:
    hops = settings.TRUSTED_PROXIES if settings.TRUSTED_PROXIES > 0 else len(forwarded)
    client = remote
    for entry in reversed(forwarded[-hops:] if hops else []):
        if not from_trusted_proxy(client):
            break
        address = forwarded_address(entry)
        if address is None:
            break  # The proxy that wrote it is the last address known to be right.
        client = address
    return client


def from_trusted_proxy(address: str) -> bool:
    """Say whether `address` is in `AUTOMMATE_TRUSTED_PROXY_NETWORKS`."""
    ip = client_ip(address)
    return ip is not None and any(ip in network for network in settings.TRUSTED_PROXY_NETWORKS)


FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")


def untrusted_forwarding_dropped(get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
    """Middleware: drop the forwarding headers of a connection that is not a trusted proxy.

    With `AUTOMMATE_TRUSTED_PROXY_NETWORKS` set, a client that connects directly cannot claim
    another address, nor that it came over HTTPS, whatever it sends.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if settings.TRUSTED_PROXY_NETWORKS and not from_trusted_proxy(
            request.META.get("REMOTE_ADDR", "")
        ):
            for header in FORWARDING_HEADERS:
                request.META.pop(header, None)
        return get_response(request)

    return middleware


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
