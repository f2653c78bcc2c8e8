"""Every mail in its reader's language: the user's own Language, else the language of the page
the request was made on, else the installation's default; never the sender's page's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.delivery import services as delivery
from autommate.delivery.models import Kind
from autommate.recovery.models import ResetLink, ResetRequest
from tests.conftest import USER_PASSWORD
from tests.smtp_server import SENDER_NOT_OWNED, SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]

NEW_PASSWORD = "a brand new passphrase for mike"
RESET = re.compile(r"http://127\.0\.0\.1:8000/reset-password/[A-Za-z0-9_-]+/")


def in_language(message, language: str) -> None:
    """Assert that a received mail is composed in `language`, headers and HTML alike."""
    assert message["Content-Language"] == language
    html = message.get_body(("html",)).get_content()
    assert f'<html lang="{language}">' in html


def set_language(user: User, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def ask_for_reset(address: str, language: str, client: Client | None = None):
    browser = client or Client()
    return browser.post(
        "/forgot-password/", {"email": address}, headers={"accept-language": language}
    )


def reset_path(message) -> str:
    (link,) = set(RESET.findall(message.get_body(("plain",)).get_content()))
    return str(link).removeprefix("http://127.0.0.1:8000")


def test_a_reset_asked_for_on_a_german_page_arrives_in_german(
    forgot_password_on, regular_user: User, smtp_server: SMTPTestServer, run_worker
) -> None:
    assert ask_for_reset(regular_user.email, "de").status_code == HTTPStatus.FOUND
    assert ResetRequest.objects.get().language == "de"

    run_worker()

    (message,) = smtp_server.wait_for(1)
    in_language(message, "de")


def test_a_user_with_a_language_gets_it_even_from_a_german_page(
    forgot_password_on, regular_user: User, smtp_server: SMTPTestServer, run_worker
) -> None:
    set_language(regular_user, "tr")

    ask_for_reset(regular_user.email, "de")
    run_worker()

    (message,) = smtp_server.wait_for(1)
    in_language(message, "tr")


def test_a_reset_asked_for_through_the_api_is_in_its_accept_language(
    forgot_password_on, regular_user: User, smtp_server: SMTPTestServer, run_worker
) -> None:
    response = Client().post(
        "/api/v1/password-reset/request",
        {"email": regular_user.email},
        content_type="application/json",
        headers={"accept-language": "tr"},
    )
    assert response.status_code == HTTPStatus.ACCEPTED

    run_worker()

    in_language(smtp_server.wait_for(1)[0], "tr")


def test_a_reset_asked_for_without_any_language_is_in_english(
    forgot_password_on, regular_user: User, smtp_server: SMTPTestServer, run_worker
) -> None:
    Client().post("/forgot-password/", {"email": regular_user.email})
    run_worker()

    in_language(smtp_server.wait_for(1)[0], "en")


def test_the_password_changed_notice_follows_the_language_of_the_reset_request(
    forgot_password_on, regular_user: User, smtp_server: SMTPTestServer, run_worker
) -> None:
    ask_for_reset(regular_user.email, "tr")
    run_worker()
    (mail,) = smtp_server.wait_for(1)
    # The link is opened in a browser that asks for German pages: the notice stays Turkish.
    browser = Client(headers={"accept-language": "de"})
    browser.get(reset_path(mail))
    done = browser.post(
        "/reset-password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == HTTPStatus.FOUND
    assert ResetLink.objects.get(used_at__isnull=False).language == "tr"

    run_worker()

    notice = smtp_server.wait_for(2)[-1]
    assert notice["To"] == regular_user.email
    in_language(notice, "tr")


def test_the_notice_of_a_change_on_the_account_page_is_in_that_pages_language(
    configured_mail_server, regular_user: User, smtp_server: SMTPTestServer, run_worker
) -> None:
    browser = Client(headers={"accept-language": "de"})
    browser.force_login(regular_user)

    response = browser.post(
        "/account/",
        {
            "form": "password",
            "current_password": USER_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    run_worker()

    in_language(smtp_server.wait_for(1)[0], "de")


@pytest.mark.parametrize(("own", "expected"), [("", "en"), ("tr", "tr")])
def test_an_invitation_is_in_the_users_language_else_the_installations(
    admin_user: User,
    configured_mail_server,
    smtp_server: SMTPTestServer,
    run_worker,
    own: str,
    expected: str,
) -> None:
    set_language(admin_user, "de")
    admin = Client()
    admin.force_login(admin_user)

    added = admin.post(
        "/users/add/",
        {
            "email": "nina@example.org",
            "full_name": "Nina New",
            "role": "user",
            "is_active": "on",
            "send_invitation": "on",
            "language": own,
        },
    )
    assert added.status_code == HTTPStatus.FOUND
    assert User.objects.get(email="nina@example.org").language == own
    run_worker()

    in_language(smtp_server.wait_for(1)[0], expected)


@pytest.mark.parametrize(("own", "expected"), [("", "en"), ("de", "de")])
def test_a_reset_link_an_administrator_sends_is_in_the_users_language(
    admin_user: User,
    regular_user: User,
    configured_mail_server,
    smtp_server: SMTPTestServer,
    run_worker,
    own: str,
    expected: str,
) -> None:
    set_language(admin_user, "tr")
    set_language(regular_user, own)
    admin = Client(headers={"accept-language": "tr"})
    admin.force_login(admin_user)

    sent = admin.post(f"/users/{regular_user.pk}/password-reset/")
    assert sent.status_code == HTTPStatus.FOUND
    run_worker()

    in_language(smtp_server.wait_for(1)[0], expected)


def test_the_test_mail_is_in_the_sending_administrators_language(
    admin_user: User, smtp_server: SMTPTestServer
) -> None:
    smtp_server.save_settings()
    set_language(admin_user, "tr")
    admin = Client(headers={"accept-language": "de"})
    admin.force_login(admin_user)

    response = admin.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})
    assert response.status_code in {HTTPStatus.OK, HTTPStatus.FOUND}

    in_language(smtp_server.wait_for(1)[0], "tr")


def test_the_test_mail_from_the_api_follows_accept_language(
    admin_user: User, smtp_server: SMTPTestServer
) -> None:
    smtp_server.save_settings()
    admin = Client(headers={"accept-language": "de"})
    admin.force_login(admin_user)

    response = admin.post(
        "/api/v1/mail-server/test",
        {"recipient": "ops@example.org"},
        content_type="application/json",
    )
    assert response.status_code == HTTPStatus.OK, response.content

    in_language(smtp_server.wait_for(1)[0], "de")


def test_an_alert_goes_to_each_administrator_in_their_own_language(
    admin_user: User,
    forgot_password_on,
    smtp_server: SMTPTestServer,
    run_worker,
) -> None:
    set_language(admin_user, "de")
    other = User.objects.create_user("root@example.org", USER_PASSWORD, role="admin")

    def notice() -> None:
        delivery.message_record(
            kind=Kind.PASSWORD_CHANGED,
            recipient=admin_user.email,
            user=admin_user,
            context={"changed_at": timezone.now().isoformat()},
        )

    notice()
    run_worker()
    smtp_server.wait_for(1)
    smtp_server.rcpt_reply = SENDER_NOT_OWNED
    notice()
    delivery.deliver_due(max_messages=1)
    smtp_server.rcpt_reply = ""
    run_worker()

    # The first notice, then one alert to each administrator.
    received = smtp_server.wait_for(3)
    alerts = {m["To"]: m for m in received[1:]}
    in_language(alerts[admin_user.email], "de")
    in_language(alerts[other.email], "en")


def test_dates_in_a_mail_are_in_its_language_and_the_installations_zone(
    settings, regular_user: User, configured_mail_server, smtp_server: SMTPTestServer, run_worker
) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    set_language(regular_user, "de")
    delivery.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=regular_user.email,
        user=regular_user,
        context={"changed_at": datetime(2026, 12, 6, 20, 40, tzinfo=UTC).isoformat()},
    )
    run_worker()

    (message,) = smtp_server.wait_for(1)
    for part in ("plain", "html"):
        body = message.get_body((part,))
        assert body is not None
        assert "6. Dezember 2026, 21:40 CET" in body.get_content()
