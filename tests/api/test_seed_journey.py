"""The seed's whole journey through the JSON API alone, with a real SMTP server.

An administrator's script configures the mail server, tests it, confirms delivery with the code
from the received test mail, and enables Forgot Password; a user then asks for a reset, follows
the mailed token and signs in with the new password.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import Client

from tests.api.conftest import ApiClient
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase for mike"
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")
RESET_LINK = re.compile(r"http://127\.0\.0\.1:8000/reset-password/([A-Za-z0-9_-]+)/")


def test_whole_seed_through_the_api(
    admin_api: ApiClient, anonymous_api: ApiClient, regular_user, smtp_server, run_worker
) -> None:
    settings = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
    }
    saved = admin_api.put("/mail-server", settings)
    assert saved.status_code == HTTPStatus.OK, saved.content
    assert saved.json()["verified"] is False

    # Enabling before delivery is proven is refused.
    refused = admin_api.put("/forgot-password", {"enabled": True})
    assert refused.status_code == HTTPStatus.CONFLICT

    tested = admin_api.post("/mail-server/test", {"recipient": "ops@example.org"}).json()
    assert tested["ok"] is True, tested
    assert [step["status"] for step in tested["steps"]].count("failed") == 0
    (test_mail,) = smtp_server.wait_for(1)
    code = CODE.search(test_mail.get_body(("plain",)).get_content())
    assert code is not None

    confirmed = admin_api.post("/mail-server/confirm", {"code": code[1]})
    assert confirmed.status_code == HTTPStatus.OK, confirmed.content
    assert confirmed.json()["verified"] is True

    enabled = admin_api.put("/forgot-password", {"enabled": True, "link_lifetime_minutes": 30})
    assert enabled.status_code == HTTPStatus.OK, enabled.content
    assert enabled.json()["enabled"] is True

    requested = anonymous_api.post("/password-reset/request", {"email": "Mike@Example.org"})
    assert requested.status_code == HTTPStatus.ACCEPTED
    assert len(smtp_server.messages) == 1  # The request itself sends nothing.

    run_worker()
    reset_mail = smtp_server.wait_for(2)[1]
    assert reset_mail["To"] == "mike@example.org"
    assert reset_mail["From"] == "Autom Mate <noreply@example.org>"
    assert "Reset" in reset_mail["Subject"]
    token = RESET_LINK.search(reset_mail.get_body(("plain",)).get_content())
    assert token is not None

    done = anonymous_api.post(
        "/password-reset/confirm", {"token": token[1], "new_password": NEW_PASSWORD}
    )
    assert done.status_code == HTTPStatus.NO_CONTENT, done.content

    client = Client()
    assert not client.login(username="mike@example.org", password=USER_PASSWORD)
    signed_in = client.post(
        "/login/", {"username": "mike@example.org", "password": NEW_PASSWORD}, follow=True
    )
    assert signed_in.status_code == HTTPStatus.OK
    assert signed_in.context["user"].email == "mike@example.org"

    mail_log = admin_api.get("/mail-log", {"kind": "reset"}).json()
    assert [item["state"] for item in mail_log["items"]] == ["sent"]
    actions = {item["action"] for item in admin_api.get("/audit-events").json()["items"]}
    assert {
        "mail_settings_changed",
        "test_mail_sent",
        "test_mail_confirmed",
        "forgot_password_switched",
        "reset_requested",
        "reset_completed",
    } <= actions
