"""Point 16: the test mail cannot be turned into a network scanner or a metadata-service probe.

Answers server-side request forgery through "test the connection" features (ASVS 5.0 V1.3.6 and
V15 SSRF protection: allow lists of destinations; OWASP SSRF Prevention Cheat Sheet: refuse
link-local addresses such as 169.254.169.254). Administrators only, rate limited, audited.
"""

from __future__ import annotations

import socket
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from autommate.accounts.models import Role, User
from autommate.audit.models import Action, AuditEvent
from autommate.delivery.models import Kind, OutgoingMessage
from tests.smtp_server import SMTPTestServer

from .conftest import Clock, Mailbox, connected, mail_form, request_reset

pytestmark = pytest.mark.django_db

REAL_GETADDRINFO = socket.getaddrinfo


def send_test(client: Client, server: SMTPTestServer | None = None, **overrides: Any):
    values = mail_form(server, **{"test_recipient": "ops@example.org", **overrides})
    return client.post("/settings/mail/test/", values)


def test_only_administrators_may_send_a_test_mail(
    client: Client, user_client: Client, smtp_server: SMTPTestServer, listener: socket.socket
) -> None:
    target = {"host": "127.0.0.1", "port": listener.getsockname()[1]}
    assert send_test(client, **target)["Location"].startswith("/login/")
    assert send_test(user_client, **target).status_code == HTTPStatus.FORBIDDEN
    api = user_client.post(
        "/api/v1/mail-server/test",
        {"recipient": "ops@example.org", "settings": {**mail_form(smtp_server), "use_tls": False}},
        content_type="application/json",
    )
    assert api.status_code in {HTTPStatus.FORBIDDEN, HTTPStatus.UNAUTHORIZED}

    assert not connected(listener)
    assert smtp_server.commands == []
    assert not AuditEvent.objects.filter(action=Action.TEST_MAIL_SENT).exists()


def test_ten_test_mails_a_minute_per_administrator_each_audited(
    admin_client: Client, smtp_server: SMTPTestServer, clock: Clock
) -> None:
    for number in range(10):
        assert send_test(admin_client, smtp_server).status_code == HTTPStatus.OK, number

    limited = send_test(admin_client, smtp_server)

    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(limited["Retry-After"]) <= 60
    assert "Too many test mails" in limited.content.decode()
    assert len(smtp_server.wait_for(10)) == 10
    other = User.objects.create_user("ops@example.org", "x" * 20, role=Role.ADMINISTRATOR)
    other_client = Client()
    other_client.force_login(other)
    assert send_test(other_client, smtp_server).status_code == HTTPStatus.OK

    sent = AuditEvent.objects.filter(action=Action.TEST_MAIL_SENT)
    assert sent.count() == 11
    assert {e.detail["result"] for e in sent} == {"accepted"}
    assert (
        AuditEvent.objects.filter(action=Action.RATE_LIMITED, detail__limit="test-mail").count()
        == 1
    )
    clock.advance(60)
    assert send_test(admin_client, smtp_server).status_code == HTTPStatus.OK


@pytest.fixture
def metadata_name(monkeypatch) -> str:
    """A server name that resolves to the cloud metadata address, as DNS could make any name."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "metadata.attacker.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "metadata.attacker.example"


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254", "metadata.attacker.example"]
)
@pytest.mark.parametrize("allowed", ["", "169.254.0.0/16,fe80::/10,metadata.attacker.example"])
def test_link_local_destinations_are_always_refused(
    admin_client: Client, metadata_name: str, settings, host: str, allowed: str
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = allowed

    response = send_test(admin_client, host=host, port=25)

    page = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "link-local" in page
    event = AuditEvent.objects.get(action=Action.TEST_MAIL_SENT)
    assert event.detail["result"] == "failed at connect"
    assert event.actor is not None
    assert event.client_address == "127.0.0.1"


def test_operator_can_restrict_destinations_further(
    admin_client: Client, smtp_server: SMTPTestServer, listener: socket.socket, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "10.0.0.0/8,smtp.example.org"

    refused = send_test(admin_client, host="127.0.0.1", port=listener.getsockname()[1])

    assert "not among the destinations" in refused.content.decode()
    assert not connected(listener)
    settings.MAIL_ALLOWED_DESTINATIONS = "127.0.0.0/8"
    assert "Accepted by the server" in send_test(admin_client, smtp_server).content.decode()
    settings.MAIL_ALLOWED_DESTINATIONS = "localhost"
    named = send_test(admin_client, smtp_server, host="localhost")
    assert "Accepted by the server" in named.content.decode()


def test_queued_mail_respects_the_allowed_destinations(
    mailbox: Mailbox, regular_user: User, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "10.0.0.0/8"

    request_reset(Client(), regular_user.email)

    assert mailbox.deliver() == []
    assert mailbox.server.commands == []
    message = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert "not among the destinations" in message.last_error
