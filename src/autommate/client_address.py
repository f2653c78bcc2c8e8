"""The address of the client behind a request, trusting only the proxies the operator declared."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """Return the client's IP address.

    With `AUTOMMATE_TRUSTED_PROXIES=N`, the N-th address from the right of `X-Forwarded-For`
    is the client (each trusted proxy appends the address it saw); entries further left were
    written by the client and are ignored.
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
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def in_monitoring_network(address: str) -> bool:
    """Say whether the client `address` is in `AUTOMMATE_MONITORING_NETWORKS`."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in settings.MONITORING_NETWORKS)
