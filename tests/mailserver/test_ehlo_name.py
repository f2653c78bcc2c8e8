"""The EHLO name: saved on the page and through the API, covered by the fingerprint when set."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from autommate.mailserver.fingerprints import released_values, settings_fingerprint
from autommate.mailserver.models import MailServerSettings
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.django_db


def _page_form(server: SMTPTestServer, **overrides: Any) -> dict[str, Any]:
    return {
        "host": server.host,
        "port": server.port,
        "protocol": "smtp",
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
        **overrides,
    }


def test_page_saves_the_ehlo_name_and_shows_the_default(
    admin_client: Client, smtp_server: SMTPTestServer
) -> None:
    page = admin_client.get("/settings/mail/").content.decode()
    assert "EHLO name" in page
    assert 'name="ehlo_name"' in page

    response = admin_client.post(
        "/settings/mail/", _page_form(smtp_server, ehlo_name="autommate.example.org")
    )

    assert response.status_code == HTTPStatus.FOUND
    assert MailServerSettings.objects.get().ehlo_name == "autommate.example.org"


@pytest.mark.parametrize("name", ["not a name", "mail_server.example.org", "örnek.test", "-a.b"])
def test_page_refuses_an_ehlo_name_no_server_takes_and_changes_nothing(
    admin_client: Client, smtp_server: SMTPTestServer, name: str
) -> None:
    smtp_server.save_settings(ehlo_name="kept.example.org")

    response = admin_client.post("/settings/mail/", _page_form(smtp_server, ehlo_name=name))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter a host name such as mail.example.org" in response.content.decode()
    assert MailServerSettings.objects.get().ehlo_name == "kept.example.org"


def test_test_mail_from_the_page_greets_with_the_saved_name(
    admin_client: Client, smtp_server: SMTPTestServer
) -> None:
    smtp_server.save_settings(ehlo_name="autommate.example.org")

    response = admin_client.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})

    page = response.content.decode() if response.status_code == HTTPStatus.OK else ""
    if response.status_code == HTTPStatus.FOUND:
        page = admin_client.get(response["Location"]).content.decode()
    assert "Greeted as autommate.example.org" in page
    assert smtp_server.greeting_names == ["autommate.example.org"]


def test_settings_verified_before_the_ehlo_name_existed_stay_verified(
    smtp_server: SMTPTestServer,
) -> None:
    saved = smtp_server.save_settings()
    before = released_values(saved, {}) | {"sender_name": saved.sender_name.strip()}
    saved.verified_fingerprint = settings_fingerprint(before)
    saved.save()

    assert MailServerSettings.objects.get().is_verified


def test_a_changed_ehlo_name_needs_a_new_test(smtp_server: SMTPTestServer) -> None:
    saved = smtp_server.save_settings()
    saved.verified_fingerprint = saved.fingerprint()
    saved.save()

    saved.ehlo_name = "autommate.example.org"
    saved.save()

    assert not MailServerSettings.objects.get().is_verified
