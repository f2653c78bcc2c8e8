from __future__ import annotations

import ipaddress

import pytest

from autommate.mailserver.destinations import (
    DestinationRefused,
    check_destination,
    entry_for,
    parse_allowed_destinations,
)


def _addresses(*values: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(value) for value in values]


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1", "::ffff:169.254.169.254"]
)
@pytest.mark.parametrize("allowed", ["", "0.0.0.0/0,::/0", "metadata.internal", "public"])
def test_link_local_addresses_are_always_refused(address: str, allowed: str, settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = allowed

    with pytest.raises(DestinationRefused, match="link-local") as raised:
        check_destination("metadata.internal", _addresses("192.0.2.10", address))

    assert address not in str(raised.value)


@pytest.mark.parametrize("address", ["198.51.99.4", "8.8.8.8", "2606:4700::1111", "192.88.99.1"])
@pytest.mark.parametrize("allowed", ["", "public", "public,127.0.0.1:25"])
def test_public_addresses_are_allowed_by_default(address: str, allowed: str, settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = allowed

    check_destination("smtp.example.org", _addresses(address), port=587)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.255.0.9",
        "::1",
        "0.0.0.0",  # unspecified
        "::",
        "10.1.2.3",  # private (RFC 1918)
        "172.16.0.1",
        "192.168.1.1",
        "fc00::1",  # unique local
        "fd12:3456::1",
        "100.64.0.1",  # shared address space (CGNAT)
        "224.0.0.1",  # multicast
        "ff02::1",
        "192.0.2.10",  # documentation
        "2001:db8::25",
        "198.18.0.1",  # benchmarking
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.0.8",  # IETF protocol assignments
        "fec0::1",  # the old IPv6 site-local range
        "::ffff:127.0.0.1",  # IPv4 inside IPv6
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 to loopback
        "64:ff9b::a00:1",
        "2002:7f00:1::1",  # 6to4
        "::7f00:1",  # IPv4-compatible
    ],
)
@pytest.mark.parametrize("allowed", ["", "public", "public,smtp.example.org"])
def test_special_purpose_addresses_are_refused_unless_named(
    address: str, allowed: str, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = allowed

    with pytest.raises(DestinationRefused) as raised:
        check_destination("relay.internal", _addresses(address), port=25)

    message = str(raised.value)
    assert "relay.internal" in message
    assert address not in message
    assert "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS" in message


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "::1", "100.64.0.1"])
def test_named_networks_allow_special_purpose_addresses(address: str, settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "127.0.0.0/8,::1,10.0.0.0/8,100.64.0.0/10"

    check_destination("relay.internal", _addresses(address), port=25)


def test_an_ipv4_network_also_allows_its_addresses_written_in_ipv6(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "127.0.0.1"

    check_destination("relay.internal", _addresses("::ffff:127.0.0.1"), port=25)


@pytest.mark.parametrize(
    ("allowed", "address", "port"),
    [
        ("127.0.0.1:25", "127.0.0.1", 25),
        ("10.0.0.0/8:587", "10.9.8.7", 587),
        ("[::1]:25", "::1", 25),
        ("[fd00::/8]:2525", "fd00::25", 2525),
        ("public,127.0.0.1:25", "127.0.0.1", 25),
    ],
)
def test_an_entry_with_a_port_allows_that_port_only(
    allowed: str, address: str, port: int, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = allowed

    check_destination("relay.internal", _addresses(address), port=port)
    with pytest.raises(DestinationRefused, match=f"on port {port + 1}"):
        check_destination("relay.internal", _addresses(address), port=port + 1)


def test_a_named_host_is_allowed_on_its_port_only(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "relay.internal:25"

    check_destination("relay.internal", _addresses("10.0.0.5"), port=25)
    with pytest.raises(DestinationRefused):
        check_destination("relay.internal", _addresses("10.0.0.5"), port=6379)


@pytest.mark.parametrize("host", ["smtp.example.org", "SMTP.Example.org", "smtp.example.org."])
def test_a_listed_host_name_is_allowed_at_any_address(host: str, settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "smtp.example.org, 10.0.0.0/8"

    check_destination(host, _addresses("198.51.99.4"))
    check_destination(host, _addresses("192.168.7.7"))


def test_a_wildcard_host_name_allows_subdomains_only(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "*.example.org"

    check_destination("mail.eu.example.org", _addresses("198.51.99.4"))
    with pytest.raises(DestinationRefused):
        check_destination("example.org", _addresses("198.51.99.4"))


def test_a_list_without_public_allows_only_what_it_names(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "smtp.example.org,10.0.0.0/8"

    check_destination("relay.internal", _addresses("10.20.30.40"))
    with pytest.raises(DestinationRefused, match=r"smtp\.attacker\.example") as raised:
        check_destination("smtp.attacker.example", _addresses("198.51.99.4"))

    assert "not among the destinations this installation may connect to" in str(raised.value)


def test_every_address_must_be_allowed(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "public"

    with pytest.raises(DestinationRefused) as raised:
        check_destination("relay.example.org", _addresses("198.51.99.4", "10.0.0.5"))

    message = str(raised.value)
    assert "relay.example.org" in message
    assert "10.0.0.5" not in message
    assert "198.51.99.4" not in message


def test_the_development_catcher_is_allowed_in_debug_mode_only(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ""
    settings.DEV_MAIL_PORT = 1025
    settings.DEBUG = True

    check_destination("127.0.0.1", _addresses("127.0.0.1"), port=1025)
    check_destination("localhost", _addresses("::1", "127.0.0.1"), port=1025)
    with pytest.raises(DestinationRefused):
        check_destination("127.0.0.1", _addresses("127.0.0.1"), port=6379)
    settings.DEBUG = False
    with pytest.raises(DestinationRefused):
        check_destination("127.0.0.1", _addresses("127.0.0.1"), port=1025)


def test_entries_that_cannot_be_read_allow_nothing_and_are_reported() -> None:
    allowed = parse_allowed_destinations(
        "smtp.example.org:abc, 10.0.0.0/33, [::1, bad host, ok.example"
    )

    assert allowed.invalid == ("smtp.example.org:abc", "10.0.0.0/33", "[::1", "bad host")
    assert not allowed.public
    assert [entry.name for entry in allowed.entries] == ["ok.example"]


@pytest.mark.parametrize(
    ("host", "port", "entry"),
    [
        ("Relay.Internal.", 25, "relay.internal:25"),
        ("10.0.0.5", 587, "10.0.0.5:587"),
        ("::1", 25, "[::1]:25"),
    ],
)
def test_the_entry_that_allows_a_destination_is_written_as_the_variable_reads_it(
    host: str, port: int, entry: str, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = entry

    assert entry_for(host, port) == entry
    check_destination(host, _addresses("10.0.0.5" if "." in entry else "::1"), port=port)
