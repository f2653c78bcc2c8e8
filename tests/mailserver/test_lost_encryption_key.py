"""A lost encryption key: the pages, the API and the command open, and say what to enter again.

A secret saved under a key that is no longer in AUTOMMATE_ENCRYPTION_KEYS cannot be decrypted.
The administrator is sent to the mail server page to type it again, so that page (and the
Forgot Password page, which shows the mail server's state) must open and say so.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from autommate.accounts.models import User
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import decrypt
from tests.api.conftest import ApiClient, token_for

pytestmark = pytest.mark.django_db

PASSWORD = "the-old-smtp-password-1"
NEW_PASSWORD = "the-new-smtp-password-2"
UNREADABLE = "cannot be read with the current encryption keys"


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "host": "smtp.example.org",
        "port": 587,
        "protocol": "smtp",
        "use_tls": "on",
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
        "use_auth": "on",
        "auth_method": "password",
        "username": "mailer",
    }
    return data | overrides


def oauth_form_data(**overrides: Any) -> dict[str, Any]:
    return form_data(
        auth_method="oauth2",
        username="sender@contoso.example",
        token_url="https://login.example.org/contoso/oauth2/v2.0/token",
        client_id="00000000-1111-2222-3333-444444444444",
        scope="https://outlook.office365.com/.default",
        **overrides,
    )


@pytest.fixture
def admin_api(admin_user: User) -> ApiClient:
    return ApiClient(token=token_for(admin_user))


@pytest.fixture
def key_lost(admin_client: Client, settings) -> None:
    """A password saved and verified, then the encryption key replaced by a new one."""
    saved = admin_client.post("/settings/mail/", form_data(password=PASSWORD))
    assert saved.status_code == HTTPStatus.FOUND
    mail_server = MailServerSettings.objects.get()
    mail_server.verified_fingerprint = mail_server.fingerprint()
    mail_server.save()
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


def test_the_mail_server_page_opens_and_asks_for_the_password_again(
    admin_client: Client, key_lost: None
) -> None:
    response = admin_client.get("/settings/mail/")

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert f"The saved password {UNREADABLE}" in page
    assert "Not verified" in page
    assert PASSWORD not in page


def test_the_forgot_password_page_opens_and_says_why_it_cannot_be_enabled(
    admin_client: Client, key_lost: None
) -> None:
    response = admin_client.get("/settings/forgot-password/")

    assert response.status_code == HTTPStatus.OK
    assert f"The saved password {UNREADABLE}" in response.content.decode()

    enabling = admin_client.post(
        "/settings/forgot-password/", {"enabled": "on", "link_lifetime_minutes": 60}
    )
    assert enabling.status_code == HTTPStatus.BAD_REQUEST
    assert UNREADABLE in enabling.content.decode()


def test_saving_without_the_password_is_refused_with_what_to_do(
    admin_client: Client, key_lost: None
) -> None:
    before = MailServerSettings.objects.get()

    response = admin_client.post("/settings/mail/", form_data(sender_name="Autom Mate Ops"))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    # Said in the panel at the top, in the error summary linking to the field, and on the field.
    html = response.content.decode()
    assert html.count(UNREADABLE) == 3
    assert re.search(rf'<a href="#id_password">[^<]*{UNREADABLE}', html)
    after = MailServerSettings.objects.get()
    assert (after.sender_name, after.password_encrypted) == (
        "Autom Mate",
        before.password_encrypted,
    )


def test_saving_a_newly_typed_password_works(admin_client: Client, key_lost: None) -> None:
    response = admin_client.post("/settings/mail/", form_data(password=NEW_PASSWORD))

    assert response.status_code == HTTPStatus.FOUND
    assert decrypt(MailServerSettings.objects.get().password_encrypted) == NEW_PASSWORD
    page = admin_client.get("/settings/mail/").content.decode()
    assert UNREADABLE not in page


def test_the_test_mail_of_the_saved_settings_asks_for_the_password_again(
    admin_client: Client, key_lost: None
) -> None:
    response = admin_client.post(
        "/settings/mail/test/", form_data(test_recipient="ops@example.org")
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert UNREADABLE in response.content.decode()


def test_a_client_secret_is_named_as_such(admin_client: Client, settings) -> None:
    saved = admin_client.post("/settings/mail/", oauth_form_data(client_secret="s3cret-value"))
    assert saved.status_code == HTTPStatus.FOUND, saved.content.decode()
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = admin_client.get("/settings/mail/")

    assert response.status_code == HTTPStatus.OK
    assert f"The saved client secret {UNREADABLE}" in response.content.decode()


def test_the_api_reads_the_settings_and_names_the_unreadable_secret(
    admin_api: ApiClient, key_lost: None
) -> None:
    response = admin_api.get("/mail-server")

    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert body["password_set"] is True
    assert body["unreadable_secrets"] == ["password"]
    assert body["verified"] is False


def test_the_api_refuses_to_keep_an_unreadable_password(
    admin_api: ApiClient, key_lost: None
) -> None:
    body = {
        "host": "smtp.example.org",
        "port": 587,
        "protocol": "smtp",
        "sender_name": "Autom Mate Ops",
        "use_tls": True,
        "sender_email": "noreply@example.org",
        "use_auth": True,
        "username": "mailer",
    }

    refused = admin_api.put("/mail-server", body)

    assert refused.status_code == HTTPStatus.BAD_REQUEST, refused.content
    assert refused.json()["code"] == "validation_failed"
    assert UNREADABLE in " ".join(refused.json()["fields"]["password"])
    assert MailServerSettings.objects.get().sender_name == "Autom Mate"

    saved = admin_api.put("/mail-server", body | {"password": NEW_PASSWORD})

    assert saved.status_code == HTTPStatus.OK, saved.content
    assert saved.json()["unreadable_secrets"] == []
