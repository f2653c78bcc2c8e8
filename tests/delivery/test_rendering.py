"""The headers every mail carries, whoever sends it."""

from __future__ import annotations

import re

import pytest
from django.utils import translation

from autommate.delivery.rendering import render_email


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("Autom Mate <noreply@example.org>", "example.org"),
        ("Autom Mate <noreply@Mail.Example.ORG>", "mail.example.org"),
        ("Autom Mate <noreply@örnek.test>", "xn--rnek-4qa.test"),
    ],
)
def test_message_id_domain_is_the_senders_not_the_public_address(
    settings, sender: str, domain: str
) -> None:
    settings.BASE_URL = "http://192.0.2.10:8000"

    message = render_email(
        "mailserver/emails/test_mail",
        {"code": "ABCD-EFGH", "confirm_url": "http://192.0.2.10:8000/x/"},
        to="ada@example.org",
        sender=sender,
        language="en",
    ).message()

    assert re.fullmatch(rf"<[^@<>\s]+@{re.escape(domain)}>", message["Message-ID"])
    assert "192.0.2.10" not in message["Message-ID"]


def test_automatic_replies_are_suppressed() -> None:
    message = render_email(
        "mailserver/emails/test_mail",
        {"code": "ABCD-EFGH", "confirm_url": "http://127.0.0.1:8000/x/"},
        to="ada@example.org",
        sender="Autom Mate <noreply@example.org>",
        language="en",
    ).message()

    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize("language", ["en", "de", "tr"])
def test_a_mail_is_composed_in_its_language_whatever_is_active(language: str) -> None:
    with translation.override("de" if language != "de" else "tr"):
        email = render_email(
            "mailserver/emails/test_mail",
            {"code": "ABCD-EFGH", "confirm_url": "http://127.0.0.1:8000/x/"},
            to="ada@example.org",
            sender="Autom Mate <noreply@example.org>",
            language=language,
        )
        active_after = translation.get_language()

    message = email.message()
    assert message["Content-Language"] == language
    html = email.alternatives[0][0]
    assert isinstance(html, str)
    assert f'<html lang="{language}">' in html
    assert active_after == ("de" if language != "de" else "tr")
