from __future__ import annotations

import ipaddress

import pytest

from autommate.mailserver.destinations import DestinationRefused, check_destination


def _addresses(*values: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(value) for value in values]


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1", "::ffff:169.254.169.254"]
)
@pytest.mark.parametrize("allowed", ["", "0.0.0.0/0,::/0", "metadata.internal"])
def test_link_local_addresses_are_always_refused(address: str, allowed: str, settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = allowed

    with pytest.raises(DestinationRefused, match="link-local"):
        check_destination("metadata.internal", _addresses("192.0.2.10", address))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "203.0.113.7", "2001:db8::25"])
def test_any_other_address_is_allowed_without_a_list(address: str, settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ""

    check_destination("smtp.example.org", _addresses(address))


@pytest.mark.parametrize("host", ["smtp.example.org", "SMTP.Example.org", "smtp.example.org."])
def test_a_listed_host_name_is_allowed_at_any_address(host: str, settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "smtp.example.org, 10.0.0.0/8"

    check_destination(host, _addresses("198.51.100.4"))


def test_a_wildcard_host_name_allows_subdomains_only(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "*.example.org"

    check_destination("mail.eu.example.org", _addresses("198.51.100.4"))
    with pytest.raises(DestinationRefused):
        check_destination("example.org", _addresses("198.51.100.4"))


def test_addresses_inside_listed_ranges_are_allowed(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "10.0.0.0/8,2001:db8::/32,192.0.2.25"

    check_destination("relay.internal", _addresses("10.20.30.40", "2001:db8::1"))
    check_destination("relay.internal", _addresses("192.0.2.25"))


def test_every_address_must_be_inside_a_listed_range(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "10.0.0.0/8"

    with pytest.raises(DestinationRefused) as raised:
        check_destination("relay.example.org", _addresses("10.0.0.5", "203.0.113.9"))

    message = str(raised.value)
    assert "relay.example.org" in message
    assert "203.0.113.9" in message
    assert "10.0.0.5" not in message
    assert "not among the destinations this installation may connect to" in message


def test_other_hosts_are_refused_when_a_list_is_set(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "smtp.example.org"

    with pytest.raises(DestinationRefused, match=r"smtp\.attacker\.example"):
        check_destination("smtp.attacker.example", _addresses("198.51.100.4"))
