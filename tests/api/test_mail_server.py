"""The mail server through the API: read, save (password write-only), test, confirm."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import pytest

from autommate.mailserver.models import LastWorkingMailServer, MailServerSettings
from autommate.mailserver.selectors import mail_server_get
from tests.api.conftest import ApiClient, assert_error
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.django_db

SECRET = "sm7p-p4ssw0rd-never-shown"
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


def settings_for(server: Any, **changes: Any) -> dict[str, Any]:
    return {
        "host": server.host,
        "port": server.port,
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
        **changes,
    }


def code_from(message) -> str:
    match = CODE.search(message.get_body(("plain",)).get_content())
    assert match, "no confirmation code in the test mail"
    return match[1]


def test_unconfigured_server_reads_as_defaults(admin_api: ApiClient) -> None:
    body = admin_api.get("/mail-server").json()
    assert body["is_configured"] is False
    assert body["verified"] is False
    assert body["has_password"] is False
    assert "password" not in body


def test_saved_password_is_never_returned(admin_api: ApiClient, smtp_server) -> None:
    response = admin_api.put(
        "/mail-server", settings_for(smtp_server, use_auth=True, username="mailer", password=SECRET)
    )
    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert body["has_password"] is True
    assert "password" not in body
    assert SECRET not in response.content.decode()
    assert SECRET not in admin_api.get("/mail-server").content.decode()
    assert SECRET not in admin_api.get("/audit-events").content.decode()
    saved = MailServerSettings.objects.get()
    assert SECRET not in saved.password_encrypted
    assert saved.password() == SECRET


def test_saving_without_password_keeps_the_saved_one(admin_api: ApiClient, smtp_server) -> None:
    auth = {"use_auth": True, "username": "mailer"}
    admin_api.put("/mail-server", settings_for(smtp_server, **auth, password=SECRET))
    response = admin_api.put("/mail-server", settings_for(smtp_server, **auth, sender_name="Ops"))
    assert response.json()["has_password"] is True
    assert mail_server_get().password() == SECRET


def test_sign_in_without_tls_is_off_unless_asked_for_and_kept_when_absent(
    admin_api: ApiClient, smtp_server_factory
) -> None:
    smtp_server = smtp_server_factory(auth=True, username="mailer", password=SECRET)
    auth = {"use_auth": True, "username": "mailer", "password": SECRET}
    assert (
        admin_api.put("/mail-server", settings_for(smtp_server, **auth)).json()[
            "allow_insecure_login"
        ]
        is False
    )

    allowed = admin_api.put(
        "/mail-server", settings_for(smtp_server, **auth, allow_insecure_login=True)
    )
    assert allowed.json()["allow_insecure_login"] is True
    # A client that knows nothing of the field changes nothing about it.
    renamed = admin_api.put(
        "/mail-server",
        settings_for(smtp_server, use_auth=True, username="mailer", sender_name="Ops"),
    )
    assert renamed.status_code == HTTPStatus.OK, renamed.content
    assert renamed.json()["allow_insecure_login"] is True
    assert mail_server_get().allow_insecure_login

    tested = admin_api.post("/mail-server/test", {"recipient": "ops@example.org"})
    assert tested.json()["ok"] is True, tested.json()


def test_turning_sign_in_without_tls_on_needs_the_password_again(
    admin_api: ApiClient, smtp_server
) -> None:
    auth = {"use_auth": True, "username": "mailer"}
    admin_api.put("/mail-server", settings_for(smtp_server, **auth, password=SECRET))
    response = admin_api.put(
        "/mail-server", settings_for(smtp_server, **auth, allow_insecure_login=True)
    )
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert "Enter the password again" in body["fields"]["password"][0]
    assert not mail_server_get().allow_insecure_login


def test_moving_the_password_to_another_server_needs_it_again(
    admin_api: ApiClient, smtp_server
) -> None:
    auth = {"use_auth": True, "username": "mailer"}
    admin_api.put("/mail-server", settings_for(smtp_server, **auth, password=SECRET))
    response = admin_api.put("/mail-server", settings_for(smtp_server, **auth, host="evil.example"))
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert "Enter the password again" in body["fields"]["password"][0]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"host": "smtp://smtp.example.org"}, "host", "without smtp://"),
        ({"port": 70000}, "port", "1 to 65535"),
        ({"protocol": "smtps", "use_tls": True, "port": 465}, "use_tls", "SMTPS already"),
        ({"protocol": "smtps", "port": 587}, "port", "Port 587 expects SMTP"),
        ({"sender_email": "not an address"}, "sender_email", "valid email"),
        ({"sender_name": "Ops\r\nBcc: x@example.org"}, "sender_name", "one line"),
        ({"use_auth": True, "username": ""}, "username", "username"),
        ({"ca_certificate": "not a certificate"}, "ca_certificate", "PEM"),
    ],
)
def test_invalid_settings_get_the_pages_messages(
    admin_api: ApiClient, smtp_server, changes, field, message
) -> None:
    response = admin_api.put("/mail-server", settings_for(smtp_server, **changes))
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert message in " ".join(body["fields"][field])
    assert not MailServerSettings.objects.exists()


def test_test_mail_reports_each_step_and_its_code_verifies_the_settings(
    admin_api: ApiClient, smtp_server
) -> None:
    admin_api.put("/mail-server", settings_for(smtp_server))
    response = admin_api.post("/mail-server/test", {"recipient": "ops@example.org"})
    assert response.status_code == HTTPStatus.OK, response.content
    result = response.json()
    assert result["ok"] is True
    assert result["failed_step"] is None
    assert result["tested_saved_settings"] is True
    assert result["code_issued"] is True
    steps = {step["name"]: step["status"] for step in result["steps"]}
    assert steps["resolve"] == steps["connect"] == steps["greeting"] == "passed"
    assert steps["sender"] == steps["recipient"] == steps["message"] == "passed"
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "ops@example.org"

    confirmed = admin_api.post("/mail-server/confirm", {"code": code_from(message)})
    assert confirmed.status_code == HTTPStatus.OK, confirmed.content
    assert confirmed.json()["verified"] is True
    assert mail_server_get().is_verified


def test_failed_test_mail_says_where_why_and_what_to_change(
    admin_api: ApiClient, smtp_server, closed_port
) -> None:
    admin_api.put("/mail-server", settings_for(smtp_server, port=closed_port))
    result = admin_api.post("/mail-server/test", {"recipient": "ops@example.org"}).json()
    assert result["ok"] is False
    assert result["failed_step"] == "connect"
    failed = next(step for step in result["steps"] if step["status"] == "failed")
    assert failed["cause"]
    assert failed["fix"]
    assert result["code_issued"] is False


def test_unsaved_settings_can_be_tested_first(admin_api: ApiClient, smtp_server) -> None:
    result = admin_api.post(
        "/mail-server/test",
        {"recipient": "ops@example.org", "settings": settings_for(smtp_server)},
    ).json()
    assert result["ok"] is True
    assert result["tested_saved_settings"] is False
    assert not MailServerSettings.objects.exists()


def test_confirming_a_test_of_unsaved_settings_saves_exactly_what_was_tested(
    admin_api: ApiClient, smtp_server_factory
) -> None:
    server = smtp_server_factory(auth=True, password=SECRET)
    admin_api.put("/mail-server", settings_for(server, sender_email="old@example.org"))
    tested = settings_for(
        server,
        sender_email="new@example.org",
        sender_name="Ops",
        use_auth=True,
        username="mailer",
        password=SECRET,
        allow_insecure_login=True,
    )
    result = admin_api.post(
        "/mail-server/test", {"recipient": "ops@example.org", "settings": tested}
    ).json()
    assert result["ok"] is True, result
    assert result["tested_saved_settings"] is False
    assert MailServerSettings.objects.get().sender_email == "old@example.org"
    from autommate.mailserver.models import TestMailCode

    assert SECRET not in TestMailCode.objects.get().tested_values_encrypted

    confirmed = admin_api.post("/mail-server/confirm", {"code": code_from(server.wait_for(1)[0])})
    assert confirmed.status_code == HTTPStatus.OK, confirmed.content
    body = confirmed.json()
    assert body["verified"] is True
    assert body["sender_email"] == "new@example.org"
    saved = mail_server_get()
    assert saved.is_verified
    assert (saved.sender_name, saved.username, saved.password()) == ("Ops", "mailer", SECRET)


def test_confirming_a_test_of_unsaved_settings_keeps_them_as_the_last_that_worked(
    admin_api: ApiClient, smtp_server
) -> None:
    # The server accepted the test mail through them, so the task worker's first mail finds
    # them kept already and has nothing to encrypt.
    admin_api.post(
        "/mail-server/test",
        {"recipient": "ops@example.org", "settings": settings_for(smtp_server)},
    )
    assert not LastWorkingMailServer.objects.exists()

    admin_api.post("/mail-server/confirm", {"code": code_from(smtp_server.wait_for(1)[0])})

    kept = LastWorkingMailServer.objects.get()
    assert kept.fingerprint == mail_server_get().fingerprint()
    assert kept.server == f"{smtp_server.host}:{smtp_server.port}"


def test_a_test_of_the_saved_settings_does_not_confirm_settings_changed_since(
    admin_api: ApiClient, smtp_server
) -> None:
    admin_api.put("/mail-server", settings_for(smtp_server, sender_email="a@example.org"))
    admin_api.post("/mail-server/test", {"recipient": "ops@example.org"})
    admin_api.put("/mail-server", settings_for(smtp_server, sender_email="b@example.org"))
    response = admin_api.post(
        "/mail-server/confirm", {"code": code_from(smtp_server.wait_for(1)[0])}
    )
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_confirmation_code")
    assert "differ from the ones saved now" in body["message"]
    saved = mail_server_get()
    assert saved.sender_email == "b@example.org"
    assert not saved.is_verified


def test_unsaved_settings_are_checked_like_saved_ones(admin_api: ApiClient, smtp_server) -> None:
    response = admin_api.post(
        "/mail-server/test",
        {"recipient": "ops@example.org", "settings": settings_for(smtp_server, port=0)},
    )
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["settings.port"]


def test_testing_nothing_saved_is_400(admin_api: ApiClient) -> None:
    response = admin_api.post("/mail-server/test", {"recipient": "ops@example.org"})
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert "save the settings first" in body["message"]


@pytest.mark.parametrize("recipient", ["not an address", "a@example.org\r\nBcc: b@example.org"])
def test_test_recipient_must_be_one_address(admin_api: ApiClient, smtp_server, recipient) -> None:
    admin_api.put("/mail-server", settings_for(smtp_server))
    response = admin_api.post("/mail-server/test", {"recipient": recipient})
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["recipient"]
    assert smtp_server.messages == []


def test_too_many_test_mails_get_429_with_retry_after(
    admin_api: ApiClient, smtp_server, settings
) -> None:
    settings.LIMIT_TEST_MAIL = "1/m"
    admin_api.put("/mail-server", settings_for(smtp_server))
    assert admin_api.post("/mail-server/test", {"recipient": "ops@example.org"}).status_code == 200
    response = admin_api.post("/mail-server/test", {"recipient": "ops@example.org"})
    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ABCD-EFGH", "invalid_confirmation_code"),
        ("", "validation_failed"),
        ("x" * 40, "validation_failed"),
    ],
)
def test_wrong_confirmation_code_is_400(admin_api: ApiClient, smtp_server, code, error) -> None:
    admin_api.put("/mail-server", settings_for(smtp_server))
    response = admin_api.post("/mail-server/confirm", {"code": code})
    assert_error(response, HTTPStatus.BAD_REQUEST, error)
    assert not mail_server_get().is_verified


def test_changing_the_settings_makes_them_unverified(
    admin_api: ApiClient, configured_mail_server, smtp_server_factory
) -> None:
    assert admin_api.get("/mail-server").json()["verified"] is True
    other = smtp_server_factory()
    response = admin_api.put("/mail-server", settings_for(other))
    assert response.json()["verified"] is False


def test_too_many_wrong_confirmation_codes_is_429(admin_api: ApiClient, smtp_server) -> None:
    admin_api.put("/mail-server", settings_for(smtp_server))
    for _ in range(10):
        response = admin_api.post("/mail-server/confirm", {"code": "ABCD-EFGH"})
        assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_confirmation_code")
    response = admin_api.post("/mail-server/confirm", {"code": "ABCD-EFGH"})
    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "rate_limited")
    assert int(response["Retry-After"]) >= 1
    assert not mail_server_get().is_verified


def test_api_reads_saves_and_keeps_the_ehlo_name(
    admin_api: ApiClient, smtp_server: SMTPTestServer
) -> None:
    values = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
    }
    body = admin_api.get("/mail-server").json()
    assert body["ehlo_name"] == ""
    assert body["ehlo_name_in_use"] == "[127.0.0.1]"

    saved = admin_api.put("/mail-server", values | {"ehlo_name": "mail.example.org"}).json()
    assert saved["ehlo_name"] == "mail.example.org"
    assert saved["ehlo_name_in_use"] == "mail.example.org"

    # A client that does not know the field keeps the saved name.
    kept = admin_api.put("/mail-server", values).json()
    assert kept["ehlo_name"] == "mail.example.org"

    refused = admin_api.put("/mail-server", values | {"ehlo_name": "not a name"})
    body = assert_error(refused, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert "ehlo_name" in body["fields"]
    assert MailServerSettings.objects.get().ehlo_name == "mail.example.org"


def test_api_reads_saves_keeps_and_clears_the_limit(
    admin_api: ApiClient, smtp_server: SMTPTestServer
) -> None:
    values = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
    }
    body = admin_api.get("/mail-server").json()
    assert body["send_rate_per_minute"] is None
    assert body["max_connections"] is None

    saved = admin_api.put(
        "/mail-server", values | {"send_rate_per_minute": 30, "max_connections": 3}
    ).json()
    assert (saved["send_rate_per_minute"], saved["max_connections"]) == (30, 3)

    # A client that does not know the fields keeps the saved limit; null clears it.
    kept = admin_api.put("/mail-server", values).json()
    assert (kept["send_rate_per_minute"], kept["max_connections"]) == (30, 3)
    cleared = admin_api.put("/mail-server", values | {"send_rate_per_minute": None}).json()
    assert (cleared["send_rate_per_minute"], cleared["max_connections"]) == (None, 3)

    refused = admin_api.put("/mail-server", values | {"max_connections": 50})
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    body = refused.json()
    assert body["code"] == "validation_failed"
    assert "from 1 to 20" in " ".join(body["fields"]["max_connections"])
    assert MailServerSettings.objects.get().max_connections == 3
