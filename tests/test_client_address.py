"""The client behind a request: X-Forwarded-For through declared proxies, and client networks."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from autommate.client_address import client_address, client_network, forwarded_address


@pytest.mark.parametrize(
    ("entry", "address"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("198.51.100.7:4711", "198.51.100.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:DB8:0:0::7", "2001:db8::7"),
        ("unknown", None),
        ("198.51.100.7:port", None),
        ("[198.51.100.7", None),
        ("", None),
    ],
)
def test_forwarded_entries_are_read_with_or_without_a_port(entry: str, address: str | None) -> None:
    assert forwarded_address(entry) == address


def test_an_unreadable_entry_falls_back_to_the_connection(settings) -> None:
    settings.TRUSTED_PROXIES = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="bogus")
    assert client_address(request) == "10.0.0.2"
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.7:55000"
    )
    assert client_address(request) == "198.51.100.7"


@pytest.mark.parametrize(
    ("prefix", "address", "network"),
    [
        (64, "198.51.100.7", "198.51.100.7"),
        (64, "::ffff:198.51.100.7", "198.51.100.7"),
        (64, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        (56, "2001:db8:1:2ff:3:4:5:6", "2001:db8:1:200::/56"),
        (128, "2001:db8::1", "2001:db8::1/128"),
        (64, "not an address", "not an address"),
    ],
)
def test_ipv6_clients_are_counted_by_their_network(
    settings, prefix: int, address: str, network: str
) -> None:
    settings.IPV6_CLIENT_PREFIX = prefix
    assert client_network(address) == network
