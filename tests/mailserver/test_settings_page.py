"""The mail server page: saving, the test mail, confirming delivery, and what it unlocks."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from autommate.audit.models import Action, AuditEvent
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import decrypt
from autommate.recovery.models import ForgotPasswordSettings

pytestmark = pytest.mark.django_db

CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


def form_data(server: Any = None, **overrides: Any) -> dict[str, Any]:
    data = {
        "host": server.host if server else "smtp.example.org",
        "port": server.port if server else 587,
        "protocol": "smtp",
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
    }
    if server is None:
        data["use_tls"] = "on"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def code_from(message) -> str:
    match = CODE.search(message.get_body(("plain",)).get_content())
    assert match
    return match.group(1)


def test_page_has_the_documented_fields(admin_client: Client) -> None:
    page = admin_client.get("/settings/mail/").content.decode()
    for label in (
        "Server name",
        "Port",
        "Protocol",
        "Enable TLS",
        "Sender name",
        "Sender email",
        "Use authentication",
        "Username",
        "Password",
        "CA certificate",
        "Test recipient",
    ):
        assert f">{label}</label>" in page, label
    for button in ("Save", "Send test mail"):
        assert f">{button}</button>" in page, button
    # Confirmation code and Confirm delivery show only while a test mail waits for them.
    assert ">Confirmation code</label>" not in page
    assert "{#" not in page
    assert "{%" not in page
    assert "smtp.gmail.com" in page  # the presets


def test_only_administrators_reach_the_mail_settings(client: Client, user_client: Client) -> None:
    assert client.get("/settings/mail/").status_code == HTTPStatus.FOUND
    assert user_client.get("/settings/mail/").status_code == HTTPStatus.FORBIDDEN
    assert user_client.post("/settings/mail/", form_data()).status_code == HTTPStatus.FORBIDDEN
    assert not MailServerSettings.objects.exists()


def test_saving_stores_the_password_encrypted_and_never_shows_it(admin_client: Client) -> None:
    response = admin_client.post(
        "/settings/mail/",
        form_data(use_auth="on", username="mailer", password="hunter2-very-secret"),
    )
    assert response.status_code == HTTPStatus.FOUND
    saved = MailServerSettings.objects.get()
    assert "hunter2" not in saved.password_encrypted
    assert decrypt(saved.password_encrypted) == "hunter2-very-secret"
    page = admin_client.get("/settings/mail/").content.decode()
    assert "hunter2" not in page
    assert "A password is saved" in page
    event = AuditEvent.objects.get(action=Action.MAIL_SETTINGS_CHANGED)
    assert "password" in event.detail["fields"]
    assert "hunter2" not in str(event.detail)


def test_empty_password_keeps_the_saved_one(admin_client: Client) -> None:
    admin_client.post(
        "/settings/mail/", form_data(use_auth="on", username="mailer", password="first-secret")
    )
    admin_client.post(
        "/settings/mail/", form_data(use_auth="on", username="mailer", sender_name="Ops")
    )
    saved = MailServerSettings.objects.get()
    assert saved.sender_name == "Ops"
    assert saved.password() == "first-secret"


def test_changing_the_host_needs_the_password_again(admin_client: Client) -> None:
    admin_client.post(
        "/settings/mail/", form_data(use_auth="on", username="mailer", password="first-secret")
    )
    response = admin_client.post(
        "/settings/mail/", form_data(host="evil.example.net", use_auth="on", username="mailer")
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter the password again" in response.content.decode()
    assert MailServerSettings.objects.get().host == "smtp.example.org"


def test_sign_in_without_tls_is_off_by_default_and_shown_as_a_warning_when_allowed(
    admin_client: Client,
) -> None:
    page = admin_client.get("/settings/mail/").content.decode()
    assert ">Allow login without TLS</label>" in page
    assert 'name="allow_insecure_login" id="id_allow_insecure_login" checked' not in page
    assert "Logging in without TLS is allowed" not in page

    plain = form_data(use_tls=None, use_auth="on", username="mailer", password="first-secret")
    admin_client.post("/settings/mail/", {**plain, "allow_insecure_login": "on"})

    assert MailServerSettings.objects.get().allow_insecure_login
    page = admin_client.get("/settings/mail/").content.decode()
    assert "Logging in without TLS is allowed" in page
    assert "password crosses the network to smtp.example.org as plain text" in page


def test_sign_in_without_tls_is_not_kept_while_tls_is_used(admin_client: Client) -> None:
    tls = form_data(use_auth="on", username="mailer", password="first-secret")
    admin_client.post("/settings/mail/", {**tls, "allow_insecure_login": "on"})

    saved = MailServerSettings.objects.get()
    assert saved.use_tls
    assert not saved.allow_insecure_login
    assert (
        "Logging in without TLS is allowed"
        not in admin_client.get("/settings/mail/").content.decode()
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 0}, "Enter a port from 1 to 65535"),
        ({"port": 70000}, "Enter a port from 1 to 65535"),
        ({"port": "abc"}, "Enter a whole number"),
        ({"host": "smtp://mail.example.org"}, "without smtp://"),
        ({"host": "bad host"}, "without smtp://"),
        ({"host": "a" * 300}, "at most 253 characters"),
        ({"protocol": "smtps", "port": 465, "use_tls": "on"}, "SMTPS already encrypts"),
        ({"protocol": "smtps", "port": 587, "use_tls": None}, "Port 587 expects SMTP"),
        ({"protocol": "smtp", "port": 465}, "Port 465 expects SMTPS"),
        ({"sender_email": "not an address"}, "Enter a valid email address"),
        ({"sender_name": "Evil\r\nBcc: victim@example.org"}, "must be on one line"),
        ({"use_auth": "on", "username": ""}, "Enter the username"),
        ({"use_auth": "on", "username": "u"}, "Enter the password for the mail server"),
        ({"ca_certificate": "not a certificate"}, "This is not a PEM certificate"),
        ({"sender_name": "x" * 10_000}, "at most 100 characters"),
    ],
)
def test_bad_settings_are_explained_and_change_nothing(
    admin_client: Client, overrides: dict[str, Any], message: str
) -> None:
    response = admin_client.post("/settings/mail/", form_data(**overrides))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()
    assert not MailServerSettings.objects.exists()


def test_oversized_request_is_refused_cleanly(admin_client: Client) -> None:
    response = admin_client.post("/settings/mail/", form_data(ca_certificate="A" * 10_000_000))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Traceback" not in response.content.decode()
    assert not MailServerSettings.objects.exists()


def test_missing_csrf_token_is_refused(admin_user) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/settings/mail/", form_data())
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Reload the page" in response.content.decode()
    assert not MailServerSettings.objects.exists()


def test_test_mail_then_confirmation_verifies_and_unlocks_forgot_password(
    admin_client: Client, smtp_server
) -> None:
    admin_client.post("/settings/mail/", form_data(smtp_server))
    refused = admin_client.post(
        "/settings/forgot-password/", {"enabled": "on", "link_lifetime_minutes": 60}
    )
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert "Confirm the delivery of a test mail" in refused.content.decode()
    assert not ForgotPasswordSettings.objects.filter(enabled=True).exists()

    result = admin_client.post(
        "/settings/mail/test/", form_data(smtp_server, test_recipient="ops@example.org")
    ).content.decode()
    for label in (
        "Resolve server name",
        "Connect",
        "Greeting",
        "Sender accepted",
        "Recipient accepted",
        "Message accepted",
    ):
        assert label in result
    assert "waiting for you to confirm delivery" in result
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "ops@example.org"
    assert message["From"] == "Autom Mate <noreply@example.org>"

    wrong = admin_client.post("/settings/mail/confirm/", {"code": "AAAA-AAAA"})
    assert "This code is not valid" in wrong.content.decode()
    assert not MailServerSettings.objects.get().is_verified

    confirmed = admin_client.post(
        "/settings/mail/confirm/", {"code": code_from(message)}, follow=True
    )
    assert "Delivery confirmed" in confirmed.content.decode()
    assert MailServerSettings.objects.get().is_verified

    enabled = admin_client.post(
        "/settings/forgot-password/", {"enabled": "on", "link_lifetime_minutes": 30}
    )
    assert enabled.status_code == HTTPStatus.FOUND
    assert ForgotPasswordSettings.objects.get().enabled

    # Single use.
    again = admin_client.post("/settings/mail/confirm/", {"code": code_from(message)})
    assert "This code is not valid" in again.content.decode()


def test_confirm_link_verifies_when_opened_by_an_administrator(
    admin_client: Client, client: Client, smtp_server
) -> None:
    admin_client.post("/settings/mail/", form_data(smtp_server))
    admin_client.post(
        "/settings/mail/test/", form_data(smtp_server, test_recipient="ops@example.org")
    )
    body = smtp_server.wait_for(1)[0].get_body(("plain",)).get_content()
    found = re.search(r"http://127\.0\.0\.1:8000(/settings/mail/confirm/[\w-]+/)", body)
    assert found
    path = found.group(1)
    assert client.get(path)["Location"].startswith("/login/")  # a mail scanner confirms nothing
    assert not MailServerSettings.objects.get().is_verified
    admin_client.get(path)
    assert MailServerSettings.objects.get().is_verified


@pytest.mark.parametrize("change", ["port", "sender_name"])
def test_changing_saved_settings_marks_them_unverified(
    admin_client: Client, smtp_server, change: str
) -> None:
    admin_client.post("/settings/mail/", form_data(smtp_server))
    admin_client.post(
        "/settings/mail/test/", form_data(smtp_server, test_recipient="ops@example.org")
    )
    admin_client.post("/settings/mail/confirm/", {"code": code_from(smtp_server.wait_for(1)[0])})
    assert MailServerSettings.objects.get().is_verified
    changed = {"port": smtp_server.port + 1, "sender_name": "Autom Mate Support"}[change]
    response = admin_client.post(
        "/settings/mail/", form_data(smtp_server, **{change: changed}), follow=True
    )
    assert "not verified" in response.content.decode()
    assert not MailServerSettings.objects.get().is_verified


def test_test_of_unsaved_values_saves_them_and_its_code_verifies_them(
    admin_client: Client, smtp_server
) -> None:
    # The first run in the order the page gives: fill in, Send test mail, enter the code.
    tested = admin_client.post(
        "/settings/mail/test/",
        form_data(smtp_server, sender_email="b@example.org", test_recipient="ops@example.org"),
    ).content.decode()
    assert "Saved and tested" in tested
    assert "waiting for you to confirm delivery" in tested
    assert 'value="b@example.org"' in tested
    assert "Confirm delivery</button>" in tested
    assert MailServerSettings.objects.get().sender_email == "b@example.org"
    confirmed = admin_client.post(
        "/settings/mail/confirm/", {"code": code_from(smtp_server.wait_for(1)[0])}, follow=True
    ).content.decode()
    assert "Delivery confirmed" in confirmed
    saved = MailServerSettings.objects.get()
    assert saved.is_verified
    assert saved.sender_email == "b@example.org"
    assert "Confirm delivery</button>" not in confirmed


def test_code_does_not_verify_settings_saved_differently_after_the_test(
    admin_client: Client, smtp_server
) -> None:
    admin_client.post(
        "/settings/mail/test/",
        form_data(smtp_server, sender_email="a@example.org", test_recipient="ops@example.org"),
    )
    admin_client.post("/settings/mail/", form_data(smtp_server, sender_email="b@example.org"))
    response = admin_client.post(
        "/settings/mail/confirm/", {"code": code_from(smtp_server.wait_for(1)[0])}
    )
    assert "differ from the ones saved now" in response.content.decode()
    assert not MailServerSettings.objects.get().is_verified


def test_invalid_settings_sent_with_a_test_are_shown_again_and_nothing_is_saved(
    admin_client: Client, smtp_server
) -> None:
    response = admin_client.post(
        "/settings/mail/test/",
        form_data(
            smtp_server, host="smtp://bad", sender_name="Ops Desk", test_recipient="ops@example.org"
        ),
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    page = response.content.decode()
    assert "Enter only the server name" in page
    assert 'value="smtp://bad"' in page
    assert 'value="Ops Desk"' in page
    assert 'value="ops@example.org"' in page
    assert not MailServerSettings.objects.exists()
    assert not smtp_server.messages


def test_wrong_or_expired_code_keeps_the_tested_settings_and_the_confirmation_form(
    admin_client: Client, smtp_server
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from autommate.mailserver.models import TestMailCode

    admin_client.post(
        "/settings/mail/test/",
        form_data(smtp_server, sender_name="Ops Desk", test_recipient="ops@example.org"),
    )
    wrong = admin_client.post("/settings/mail/confirm/", {"code": "AAAA-AAAA"}).content.decode()
    assert "This code is not valid" in wrong
    assert 'value="Ops Desk"' in wrong
    assert f'value="{smtp_server.port}"' in wrong
    assert "Confirm delivery</button>" in wrong
    TestMailCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "Confirm delivery</button>" not in admin_client.get("/settings/mail/").content.decode()
    expired = admin_client.post(
        "/settings/mail/confirm/", {"code": code_from(smtp_server.wait_for(1)[0])}
    ).content.decode()
    assert "This code is not valid" in expired
    assert 'value="Ops Desk"' in expired
    assert "Confirm delivery</button>" in expired  # with its error, to say what happened


def current_step(page: str) -> str:
    found = re.search(r'aria-current="step">\s*<strong>([^<]+)</strong>', page)
    assert found, "no step is marked as the current one"
    return found.group(1)


def test_the_page_says_what_to_do_next_at_each_step(admin_client: Client, smtp_server) -> None:
    first = admin_client.get("/settings/mail/").content.decode()
    assert current_step(first) == "1. Settings"
    assert "Confirm delivery</button>" not in first
    assert "the settings are saved and the test mail is sent with them" in first
    admin_client.post("/settings/mail/", form_data(smtp_server))
    second = admin_client.get("/settings/mail/").content.decode()
    assert current_step(second) == "2. Test"
    assert "Confirm delivery</button>" not in second
    admin_client.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})
    third = admin_client.get("/settings/mail/").content.decode()
    assert current_step(third) == "3. Confirm"
    assert "open the test mail sent to ops@example.org" in third
    assert "Confirm delivery</button>" in third
    admin_client.post("/settings/mail/confirm/", {"code": code_from(smtp_server.wait_for(1)[0])})
    done = admin_client.get("/settings/mail/").content.decode()
    assert "delivery is confirmed for these settings" in done
    assert 'aria-current="step"' not in done
    assert "Confirm delivery</button>" not in done


def test_test_form_alone_tests_the_saved_settings_and_needs_them(
    admin_client: Client, smtp_server
) -> None:
    refused = admin_client.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert "save them before sending a test mail" in refused.content.decode()
    assert 'value="ops@example.org"' in refused.content.decode()
    assert not MailServerSettings.objects.exists()
    admin_client.post("/settings/mail/", form_data(smtp_server))
    tested = admin_client.post(
        "/settings/mail/test/", {"test_recipient": "ops@example.org"}
    ).content.decode()
    assert "waiting for you to confirm delivery" in tested
    assert "Saved and tested" not in tested
    assert smtp_server.wait_for(1)[0]["To"] == "ops@example.org"


def test_failed_test_mail_names_the_step_cause_and_fix(admin_client: Client, smtp_server) -> None:
    port = smtp_server.port
    smtp_server.stop()
    response = admin_client.post(
        "/settings/mail/test/", form_data(smtp_server, port=port, test_recipient="ops@example.org")
    ).content.decode()
    assert "Failed" in response
    assert "Connect" in response
    assert "Cause:" in response
    assert "Fix:" in response
    # No code waits for a failed test; the values stay on the page, saved.
    assert "Confirm delivery</button>" not in response
    assert f'value="{port}"' in response
    assert not MailServerSettings.objects.filter(verified_fingerprint__gt="").exists()


def test_confirmation_code_expires_after_24_hours(admin_client: Client, smtp_server) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from autommate.mailserver.models import TestMailCode

    admin_client.post("/settings/mail/", form_data(smtp_server))
    admin_client.post(
        "/settings/mail/test/", form_data(smtp_server, test_recipient="ops@example.org")
    )
    code = code_from(smtp_server.wait_for(1)[0])
    issued = TestMailCode.objects.get()
    assert issued.expires_at - issued.created_at == timedelta(hours=24)
    TestMailCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = admin_client.post("/settings/mail/confirm/", {"code": code})
    assert "This code is not valid" in response.content.decode()
    assert not MailServerSettings.objects.get().is_verified


def test_too_many_wrong_codes_pause_confirming(admin_client: Client) -> None:
    for _ in range(10):
        admin_client.post("/settings/mail/confirm/", {"code": "AAAA-AAAA"})
    response = admin_client.post("/settings/mail/confirm/", {"code": "AAAA-AAAA"})
    assert "Too many wrong codes" in response.content.decode()
