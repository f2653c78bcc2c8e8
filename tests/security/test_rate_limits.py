"""Point 4: forgot-password requests are limited per address and per client, in a shared store.

Answers email bombing and enumeration by volume (OWASP Forgot Password Cheat Sheet: "implement
protections against excessive automated submissions"; ASVS 5.0 V2.4 anti-automation, V6.3;
NIST SP 800-63B-4 rate limiting).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from autommate.audit.models import Action, AuditEvent
from autommate.ratelimits.models import RateCounter

from .conftest import Clock, Mailbox, request_reset, without_csrf_token

pytestmark = pytest.mark.django_db

FIFTEEN_MINUTES = 15 * 60


def from_client(number: int) -> Client:
    return Client(REMOTE_ADDR=f"198.51.100.{number}")


def assert_limited(response, *, at_most_seconds: int) -> None:
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= at_most_seconds
    body = response.content.decode()
    assert 'role="alert"' in body
    assert "Try again in" in body


def test_three_mails_per_address_per_fifteen_minutes_then_a_page_says_when(
    mailbox: Mailbox, regular_user, clock: Clock
) -> None:
    spellings = ["mike@example.org", "MIKE@example.org", "Mike@Example.ORG"]
    for number, spelling in enumerate(spellings):
        assert request_reset(from_client(number), spelling).status_code == HTTPStatus.FOUND

    limited = request_reset(from_client(9), "mike@EXAMPLE.org")

    assert_limited(limited, at_most_seconds=FIFTEEN_MINUTES)
    assert "Try again in 15 minutes" in limited.content.decode()
    assert len(mailbox.deliver()) == 3
    clock.advance(FIFTEEN_MINUTES)
    assert request_reset(from_client(10), "mike@example.org").status_code == HTTPStatus.FOUND


def test_no_quarter_hour_boundary_lets_more_mails_through(
    mailbox: Mailbox, regular_user, clock: Clock
) -> None:
    # Six requests within 5.2 s across the quarter hour: a fixed window would send six mails.
    clock.advance(FIFTEEN_MINUTES - clock.now % FIFTEEN_MINUTES - 2.6)
    answers = []
    for number in range(6):
        answers.append(request_reset(from_client(number), regular_user.email).status_code)
        clock.advance(1.04)

    assert answers == [HTTPStatus.FOUND] * 3 + [HTTPStatus.TOO_MANY_REQUESTS] * 3
    assert len(mailbox.deliver()) == 3


def test_ten_mails_per_address_per_day(mailbox: Mailbox, regular_user, clock: Clock) -> None:
    sent = 0
    for _quarter in range(4):
        for _ in range(3):
            if sent < 10:
                response = request_reset(from_client(sent), regular_user.email)
                assert response.status_code == HTTPStatus.FOUND, sent
                sent += 1
        clock.advance(FIFTEEN_MINUTES)

    limited = request_reset(from_client(99), regular_user.email)

    assert_limited(limited, at_most_seconds=86400)
    assert int(limited["Retry-After"]) > FIFTEEN_MINUTES
    assert len(mailbox.deliver()) == 10


def test_unknown_addresses_are_limited_exactly_like_registered_ones(
    mailbox: Mailbox, regular_user, clock: Clock
) -> None:
    answers = []
    for number, address in enumerate((regular_user.email, "nobody@example.org")):
        client = from_client(number)
        for _ in range(3):
            assert request_reset(client, address).status_code == HTTPStatus.FOUND
        limited = request_reset(client, address)
        answers.append(
            (limited.status_code, limited["Retry-After"], without_csrf_token(limited.content))
        )

    assert answers[0][0] == HTTPStatus.TOO_MANY_REQUESTS
    assert answers[0] == answers[1]


def test_twenty_requests_per_client_address_per_hour(mailbox: Mailbox, clock: Clock) -> None:
    client = from_client(1)
    for number in range(20):
        response = request_reset(client, f"someone{number}@example.org")
        assert response.status_code == HTTPStatus.FOUND, number

    assert_limited(request_reset(client, "one.more@example.org"), at_most_seconds=3600)
    assert request_reset(from_client(2), "one.more@example.org").status_code == HTTPStatus.FOUND


def test_forwarded_for_is_ignored_without_declared_proxies(mailbox: Mailbox, clock: Clock) -> None:
    assert settings.TRUSTED_PROXIES == 0
    for number in range(20):
        forged = Client(REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")
        assert request_reset(forged, f"someone{number}@example.org").status_code == 302

    forged = Client(REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert_limited(request_reset(forged, "one.more@example.org"), at_most_seconds=3600)


def test_forwarded_for_is_trusted_through_the_declared_proxies_only(
    mailbox: Mailbox, clock: Clock, settings
) -> None:
    settings.TRUSTED_PROXIES = 1

    def behind_proxy(client_address: str, forged: str) -> Client:
        # The client wrote `forged`; the one trusted proxy appended the address it saw.
        return Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"{forged}, {client_address}")

    for number in range(20):
        client = behind_proxy("198.51.100.1", forged=f"203.0.113.{number}")
        assert request_reset(client, f"someone{number}@example.org").status_code == 302

    limited = request_reset(behind_proxy("198.51.100.1", "203.0.113.99"), "x@example.org")
    assert_limited(limited, at_most_seconds=3600)
    other = request_reset(behind_proxy("198.51.100.2", "198.51.100.1"), "x@example.org")
    assert other.status_code == HTTPStatus.FOUND


def test_ipv6_clients_are_counted_by_their_network(
    mailbox: Mailbox, clock: Clock, settings
) -> None:
    # One subscriber holds a whole /64: walking through its addresses gains nothing.
    for number in range(20):
        client = Client(REMOTE_ADDR=f"2001:db8:1:2::{number + 1:x}")
        assert request_reset(client, f"someone{number}@example.org").status_code == 302

    same_network = Client(REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert_limited(request_reset(same_network, "one.more@example.org"), at_most_seconds=3600)
    next_network = Client(REMOTE_ADDR="2001:db8:1:3::1")
    assert request_reset(next_network, "one.more@example.org").status_code == HTTPStatus.FOUND

    settings.IPV6_CLIENT_PREFIX = 128
    assert request_reset(same_network, "one.more@example.org").status_code == HTTPStatus.FOUND


@pytest.mark.parametrize(
    ("written", "client"),
    [("198.51.100.{n}:4711", "198.51.100.{n}"), ("[2001:db8:{n}::7]:443", "2001:db8:{n}::7")],
)
def test_forwarded_for_entries_with_a_port_name_their_client(
    mailbox: Mailbox, clock: Clock, settings, written: str, client: str
) -> None:
    settings.TRUSTED_PROXIES = 1

    def behind_proxy(number: int, port_free: bool = False) -> Client:
        entry = (client if port_free else written).format(n=number)
        return Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"203.0.113.99, {entry}")

    for number in range(20):
        response = request_reset(behind_proxy(1), f"someone{number}@example.org")
        assert response.status_code == HTTPStatus.FOUND

    limited = request_reset(behind_proxy(1, port_free=True), "x@example.org")
    assert_limited(limited, at_most_seconds=3600)
    # Not the proxy's address, which would put every client behind it in one bucket.
    assert request_reset(behind_proxy(2), "x@example.org").status_code == HTTPStatus.FOUND
    first = AuditEvent.objects.filter(action=Action.RESET_REQUESTED).order_by("id").first()
    assert first is not None
    assert first.client_address == client.format(n=1)


def test_limits_are_configurable(mailbox: Mailbox, regular_user, clock: Clock, settings) -> None:
    settings.LIMIT_RESET_PER_ADDRESS = "1/h"
    settings.LIMIT_RESET_PER_CLIENT = "2/m"
    assert request_reset(from_client(1), regular_user.email).status_code == HTTPStatus.FOUND
    assert_limited(request_reset(from_client(2), regular_user.email), at_most_seconds=3600)

    client = from_client(3)
    assert request_reset(client, "a@example.org").status_code == HTTPStatus.FOUND
    assert request_reset(client, "b@example.org").status_code == HTTPStatus.FOUND
    assert_limited(request_reset(client, "c@example.org"), at_most_seconds=60)


def test_limits_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autommate.settings",
        "AUTOMMATE_VAR_DIR": str(tmp_path),
        "AUTOMMATE_LIMIT_RESET_PER_ADDRESS": "2/5m,4/d",
        "AUTOMMATE_LIMIT_RESET_PER_CLIENT": "7/h",
        "AUTOMMATE_LIMIT_RESET_LINK_FAILURES": "9/h",
        "AUTOMMATE_LIMIT_TEST_MAIL": "3/m",
        "AUTOMMATE_IPV6_CLIENT_PREFIX": "56",
    }
    names = [
        "LIMIT_RESET_PER_ADDRESS",
        "LIMIT_RESET_PER_CLIENT",
        "LIMIT_RESET_LINK_FAILURES",
        "LIMIT_TEST_MAIL",
        "IPV6_CLIENT_PREFIX",
    ]
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps([getattr(settings, n) for n in {names!r}]))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(shown.stdout) == ["2/5m,4/d", "7/h", "9/h", "3/m", 56]


def test_counters_live_in_the_store_every_process_shares(
    mailbox: Mailbox, regular_user, clock: Clock
) -> None:
    for number in range(3):
        request_reset(from_client(number), regular_user.email)
    if not settings.REDIS_URL:
        cache.clear()  # A per-process cache would forget everything here.

    assert_limited(request_reset(from_client(8), regular_user.email), at_most_seconds=900)
    if settings.REDIS_URL:
        from autommate.ratelimits.services import _redis

        assert any(
            key.startswith(b"rl:reset-address:")
            for key in _redis(settings.REDIS_URL).scan_iter("rl:*")
        )
    else:
        assert RateCounter.objects.filter(key__startswith="rl:reset-address:").exists()


def test_the_api_shares_the_limits_and_says_when_to_retry(
    mailbox: Mailbox, regular_user, clock: Clock
) -> None:
    for number in range(3):
        assert request_reset(from_client(number), regular_user.email).status_code == 302

    response = from_client(9).post(
        "/api/v1/password-reset/request",
        {"email": regular_user.email.upper()},
        content_type="application/json",
    )

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(response["Retry-After"]) <= FIFTEEN_MINUTES
    assert response.json()["code"] == "rate_limited"
    assert "Try again in" in response.json()["message"]
    assert len(mailbox.deliver()) == 3
