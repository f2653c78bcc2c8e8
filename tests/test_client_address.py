"""The client behind a request: X-Forwarded-For through declared proxies, and client networks."""

from __future__ import annotations

import ipaddress

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from autommate.client_address import (
    client_address,
    client_network,
    forwarded_address,
    untrusted_forwarding_dropped,
)


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


def behind(remote: str, forwarded: str = "", proto: str = "") -> HttpRequest:
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    if proto:
        request.META["HTTP_X_FORWARDED_PROTO"] = proto
    return request


@pytest.fixture
def proxy_networks(settings) -> None:
    settings.TRUSTED_PROXY_NETWORKS = (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )


@pytest.mark.usefixtures("proxy_networks")
@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        # Through the proxy: the address it saw.
        ("10.0.0.2", "203.0.113.1", "203.0.113.1"),
        ("fd00::2", "203.0.113.1", "203.0.113.1"),
        # A client that connects directly cannot claim another address.
        ("198.51.100.9", "203.0.113.1", "198.51.100.9"),
        # Two trusted proxies in a row; entries the client wrote further left are ignored.
        ("10.0.0.2", "192.0.2.66, 203.0.113.5, 10.0.0.3", "203.0.113.5"),
        ("10.0.0.2", "192.0.2.66, 203.0.113.5", "203.0.113.5"),
        # The proxy wrote something unreadable: the proxy is the last address known.
        ("10.0.0.2", "bogus", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_forwarded_addresses_count_only_from_the_trusted_networks(
    remote: str, forwarded: str, client: str
) -> None:
    assert client_address(behind(remote, forwarded)) == client


def test_trusted_networks_follow_at_most_the_declared_number_of_proxies(
    proxy_networks, settings
) -> None:
    settings.TRUSTED_PROXIES = 1
    # The second proxy's entry (10.0.0.3) is taken as the client: only one hop was declared.
    assert client_address(behind("10.0.0.2", "203.0.113.5, 10.0.0.3")) == "10.0.0.3"


@pytest.mark.usefixtures("proxy_networks")
def test_a_direct_client_cannot_claim_https_or_an_address(settings) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen: dict[str, object] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["secure"] = request.is_secure()
        seen["client"] = client_address(request)
        return HttpResponse()

    middleware = untrusted_forwarding_dropped(view)
    middleware(behind("198.51.100.9", "203.0.113.1", proto="https"))
    assert seen == {"secure": False, "client": "198.51.100.9"}
    middleware(behind("10.0.0.2", "203.0.113.1", proto="https"))
    assert seen == {"secure": True, "client": "203.0.113.1"}


@pytest.mark.django_db
@pytest.mark.usefixtures("proxy_networks", "forgot_password_on")
def test_a_direct_client_cannot_dodge_the_per_client_limit_by_forging_addresses(
    settings,
) -> None:
    settings.TRUSTED_PROXIES = 1
    settings.LIMIT_RESET_PER_CLIENT = "2/h"
    answers = [
        Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        .post("/forgot-password/", {"email": f"someone{n}@example.org"})
        .status_code
        for n in range(3)
    ]
    assert answers == [302, 302, 429]
