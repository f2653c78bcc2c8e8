"""Point 3: links, sender, Message-ID and Return-Path come from the configuration, never a request.

Answers password-reset poisoning through the Host header (OWASP Forgot Password Cheat Sheet:
"ensure that generated URLs are not built from the Host header"; ASVS 5.0 V13 configuration,
V6.4). Links are built from AUTOMMATE_BASE_URL; a disallowed Host gets 400.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from autommate.disallowed_hosts import DisallowedHostOnce
from autommate.recovery.models import ResetRequest

from .conftest import (
    Browser,
    Mailbox,
    WebServer,
    choose_password,
    everything_in,
    mail_form,
    open_link,
    request_reset,
    reset_link,
)

pytestmark = pytest.mark.django_db

BASE_URL = "https://accounts.example.com"
ATTACKER = "attacker.example"
FORGED_HEADERS: dict[str, dict[str, str]] = {
    "host": {"Host": ATTACKER},
    "x-forwarded-host": {
        "X-Forwarded-Host": ATTACKER,
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Port": "8080",
    },
    "forwarded": {"Forwarded": f"for=192.0.2.1;host={ATTACKER};proto=http"},
    "x-original-url": {
        "X-Original-URL": f"http://{ATTACKER}/",
        "X-Rewrite-URL": f"http://{ATTACKER}/",
        "X-Host": ATTACKER,
    },
}


@pytest.fixture
def public_address(settings) -> None:
    settings.BASE_URL = BASE_URL


@pytest.fixture
def any_host_allowed(settings) -> None:
    """An operator who allowed every Host: even then the request's host must not matter."""
    settings.ALLOWED_HOSTS = ["*"]


def assert_built_from_configuration(message: Any) -> None:
    assert ATTACKER not in everything_in(message)
    assert message["From"] == "Autom Mate <noreply@example.org>"
    assert message.mail_from == "noreply@example.org"  # becomes the Return-Path
    assert message["Return-Path"] in (None, "<noreply@example.org>")
    # The sender's domain, as spam filters expect; never the request's host.
    assert re.fullmatch(r"<[^@<>\s]+@example\.org>", message["Message-ID"])


def test_disallowed_host_is_refused_and_nothing_is_recorded(mailbox: Mailbox, regular_user) -> None:
    response = request_reset(Client(), regular_user.email, HTTP_HOST=ATTACKER)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not ResetRequest.objects.exists()
    assert mailbox.deliver() == []


@dataclass
class MonotonicClock:
    now: float

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def refused_hosts_log(every_log_line, monkeypatch) -> Iterator[tuple[io.StringIO, MonotonicClock]]:
    """The product's log, with the refused-host filter's memory and clock its own."""
    (once,) = [
        found
        for found in logging.getLogger("django.security.DisallowedHost").filters
        if isinstance(found, DisallowedHostOnce)
    ]
    clock = MonotonicClock(1_000_000.0)
    monkeypatch.setattr("autommate.disallowed_hosts.time", clock)
    once.reset()
    yield every_log_line, clock
    once.reset()


def test_a_disallowed_host_is_one_warning_line_a_minute_without_a_traceback(
    refused_hosts_log: tuple[io.StringIO, MonotonicClock],
) -> None:
    log, clock = refused_hosts_log
    client = Client()

    for _ in range(5):
        assert client.get("/login/", HTTP_HOST=ATTACKER).status_code == HTTPStatus.BAD_REQUEST
    assert client.get("/login/", HTTP_HOST="other.example").status_code == HTTPStatus.BAD_REQUEST
    clock.now += 30
    client.get("/forgot-password/", HTTP_HOST=ATTACKER)
    clock.now += 30
    client.get("/login/", HTTP_HOST=ATTACKER)

    written = log.getvalue()
    assert "Traceback" not in written
    assert " ERROR " not in written
    lines = [line for line in written.splitlines() if "DisallowedHost" in line]
    assert len(lines) == 3, lines
    assert all(" WARNING django.security.DisallowedHost " in line for line in lines)
    assert f"Refused a request for the host '{ATTACKER}'" in lines[0]
    assert "'other.example'" in lines[1]
    assert "4 more refused since the last such line." in lines[1]
    assert f"'{ATTACKER}'" in lines[2]
    assert "1 more refused since the last such line." in lines[2]


def test_many_disallowed_hosts_still_write_only_a_few_lines_a_minute(
    refused_hosts_log: tuple[io.StringIO, MonotonicClock],
) -> None:
    log, _ = refused_hosts_log
    client = Client()

    for number in range(100):
        client.get("/login/", HTTP_HOST=f"host{number}.attacker.example")

    lines = [line for line in log.getvalue().splitlines() if "DisallowedHost" in line]
    assert len(lines) == 10


@pytest.mark.parametrize("headers", FORGED_HEADERS.values(), ids=FORGED_HEADERS.keys())
def test_forged_headers_change_no_link_sender_or_message_id(
    mailbox: Mailbox, regular_user, public_address, any_host_allowed, headers: dict[str, str]
) -> None:
    client = Client(headers=headers)
    assert request_reset(client, regular_user.email).status_code == HTTPStatus.FOUND

    message = mailbox.deliver_one()
    assert_built_from_configuration(message)
    link = reset_link(message)
    assert link.startswith(f"{BASE_URL}/reset-password/")

    open_link(client, link)
    assert choose_password(client).status_code == HTTPStatus.FOUND
    notice = mailbox.deliver_one()
    assert_built_from_configuration(notice)
    assert f"{BASE_URL}/forgot-password/" in everything_in(notice)


@pytest.mark.parametrize("headers", FORGED_HEADERS.values(), ids=FORGED_HEADERS.keys())
def test_forged_headers_change_nothing_in_the_test_mail(
    admin_client: Client,
    smtp_server,
    public_address,
    any_host_allowed,
    headers: dict[str, str],
) -> None:
    response = admin_client.post(
        "/settings/mail/test/",
        mail_form(smtp_server, test_recipient="ops@example.org"),
        headers=headers,
    )
    assert response.status_code == HTTPStatus.OK

    (message,) = smtp_server.wait_for(1)
    assert_built_from_configuration(message)
    assert f"{BASE_URL}/settings/mail/confirm/" in everything_in(message)


@pytest.mark.slow
def test_absolute_request_lines_change_no_link(
    web_server: WebServer, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    target = f"http://{ATTACKER}/forgot-password/"
    refused, _ = Browser(web_server).request("GET", target, host=ATTACKER)
    assert refused.status == HTTPStatus.BAD_REQUEST

    accepted, _ = Browser(web_server).submit(
        "/forgot-password/", {"email": regular_user.email}, target=target
    )
    assert accepted.status == HTTPStatus.FOUND
    assert accepted.getheader("Location") == "/forgot-password/check-email/"

    run_worker()
    (message,) = smtp_server.wait_for(1)
    assert ATTACKER not in everything_in(message)
    assert reset_link(message).startswith(f"{settings.BASE_URL}/reset-password/")
    assert message.mail_from == "noreply@example.org"
    assert message["Message-ID"].endswith("@example.org>")
