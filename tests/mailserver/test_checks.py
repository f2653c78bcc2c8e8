"""The system checks that tell an operator, before mail fails, that a destination is refused."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from autommate.mailserver.models import MailServerSettings

pytestmark = pytest.mark.django_db


def _check() -> str:
    out, err = StringIO(), StringIO()
    call_command("check", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def _save(**values: object) -> None:
    defaults = {"host": "127.0.0.1", "port": 25, "sender_email": "noreply@example.org"}
    MailServerSettings.objects.update_or_create(pk=1, defaults={**defaults, **values})


def test_a_saved_mail_server_on_a_refused_destination_is_warned_about(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ""
    _save(host="localhost", port=2525)

    output = _check()

    assert "mailserver.W001" in output
    assert "The mail server localhost leads to an address that is not among" in output
    assert "No mail is sent until this changes." in output
    assert "adds localhost:2525 to AUTOMMATE_MAIL_ALLOWED_DESTINATIONS" in output
    assert "set it to public,localhost:2525" in output


def test_an_allowed_mail_server_passes(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "public,127.0.0.1:25"
    _save()

    assert "mailserver.W001" not in _check()


def test_nothing_saved_nothing_to_warn_about(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ""

    assert "System check identified no issues" in _check()


def test_a_token_url_on_a_refused_destination_is_warned_about(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "public,127.0.0.1:25"
    _save(use_auth=True, auth_method="oauth2", token_url="https://localhost:8443/token")

    output = _check()

    assert "The token URL localhost leads to an address" in output
    assert "localhost:8443" in output


def test_an_entry_that_cannot_be_read_stops_the_start(settings) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "public,relay.internal:smtp"

    with pytest.raises(SystemCheckError, match=r"mailserver\.E001") as raised:
        _check()

    assert "'relay.internal:smtp'" in str(raised.value)
