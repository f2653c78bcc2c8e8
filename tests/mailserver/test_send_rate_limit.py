"""The Send rate limit on the mail server page, in the API and the command: saved, validated,
shown, filled in by the presets, audited, and never a reason to verify the settings again."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from autommate.audit.models import Action, AuditEvent
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.presets import PRESETS
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.django_db


def _page_form(server: SMTPTestServer, **overrides: Any) -> dict[str, Any]:
    """The page's form for the settings `server.save_settings()` saves."""
    return {
        "host": "localhost",
        "port": server.port,
        "protocol": "smtp",
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
        **overrides,
    }


def _verified(server: SMTPTestServer) -> MailServerSettings:
    saved = server.save_settings(sender_email="noreply@example.org")
    saved.verified_fingerprint = saved.fingerprint()
    saved.save()
    return saved


def test_page_saves_the_limit_keeps_the_settings_verified_and_shows_it(
    admin_client: Client, smtp_server: SMTPTestServer
) -> None:
    _verified(smtp_server)
    page = admin_client.get("/settings/mail/").content.decode()
    assert "Send rate limit" in page
    assert "Messages per minute" in page
    assert "Maximum connections" in page
    assert "keeps verified settings verified" in page

    response = admin_client.post(
        "/settings/mail/",
        _page_form(smtp_server, send_rate_per_minute="30", max_connections="3"),
    )

    assert response.status_code == HTTPStatus.FOUND
    saved = MailServerSettings.objects.get()
    assert (saved.send_rate_per_minute, saved.max_connections) == (30, 3)
    assert saved.is_verified
    event = AuditEvent.objects.filter(action=Action.MAIL_SETTINGS_CHANGED).get()
    assert sorted(event.detail["fields"]) == ["max_connections", "send_rate_per_minute"]
    assert event.detail["verified"] is True
    page = admin_client.get("/settings/mail/").content.decode()
    assert "Mail server settings saved." in page
    assert "Send rate limit: 30 messages per minute, at most 3 connections at once." in page


def test_page_clears_the_limit_with_empty_fields(
    admin_client: Client, smtp_server: SMTPTestServer
) -> None:
    smtp_server.save_settings(send_rate_per_minute=30, max_connections=3)

    response = admin_client.post("/settings/mail/", _page_form(smtp_server))

    assert response.status_code == HTTPStatus.FOUND
    saved = MailServerSettings.objects.get()
    assert (saved.send_rate_per_minute, saved.max_connections) == (None, None)
    page = admin_client.get("/settings/mail/").content.decode()
    assert "no limit on messages per minute, each worker's own number of connections" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("send_rate_per_minute", "0", "from 1 to 10,000"),
        ("send_rate_per_minute", "10001", "from 1 to 10,000"),
        ("send_rate_per_minute", "-5", "from 1 to 10,000"),
        ("send_rate_per_minute", "thirty", "Enter a whole number."),
        ("max_connections", "0", "from 1 to 20"),
        ("max_connections", "21", "from 1 to 20"),
        ("max_connections", "2.5", "Enter a whole number."),
    ],
)
def test_page_refuses_a_limit_out_of_range_and_changes_nothing(
    admin_client: Client, smtp_server: SMTPTestServer, field: str, value: str, message: str
) -> None:
    smtp_server.save_settings(send_rate_per_minute=30, max_connections=3)

    response = admin_client.post("/settings/mail/", _page_form(smtp_server, **{field: value}))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()
    saved = MailServerSettings.objects.get()
    assert (saved.send_rate_per_minute, saved.max_connections) == (30, 3)
    assert not AuditEvent.objects.filter(action=Action.MAIL_SETTINGS_CHANGED).exists()


def test_presets_carry_the_providers_limits(admin_client: Client) -> None:
    by_key = {preset.key: preset for preset in PRESETS}
    for key in ("microsoft365", "microsoft365-oauth"):
        assert (by_key[key].send_rate_per_minute, by_key[key].max_connections) == (30, 3)
    for key in ("gmail", "google-service-account"):
        rate = by_key[key].send_rate_per_minute
        assert rate is not None
        assert 1 <= rate <= 30
        assert by_key[key].max_connections == 3
    assert by_key["relay"].send_rate_per_minute is None
    # The page hands them to its script, which fills in the two fields.
    page = admin_client.get("/settings/mail/").content.decode()
    assert '"send_rate_per_minute": 30' in page
    assert '"max_connections": 3' in page


def test_the_model_refuses_a_limit_out_of_range(smtp_server: SMTPTestServer) -> None:
    saved = smtp_server.save_settings()
    saved.send_rate_per_minute = 20_000
    saved.max_connections = 99
    with pytest.raises(ValidationError) as refused:
        saved.full_clean()
    assert set(refused.value.message_dict) >= {"send_rate_per_minute", "max_connections"}
