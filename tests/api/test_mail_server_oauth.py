"""The mail server's OAuth 2.0 and Google service account logins through the API.

Every secret (client secret, client certificate, service account key) is write-only like the
password: a `…_set` flag says whether one is saved, and no answer, not even a refusal, holds it.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

import pytest
from cryptography.fernet import Fernet

from autommate.mailserver.models import SECRET_FIELDS, MailServerSettings
from autommate.mailserver.selectors import mail_server_get
from tests.api.conftest import ApiClient, assert_error
from tests.credentials import (
    SERVICE_ACCOUNT_EMAIL,
    certificate_pem,
    client_certificate_pem,
    private_key_body,
    private_key_pem,
    rsa_key,
    service_account_key,
)
from tests.oauth_provider import TokenEndpoint, make_certificate_credential
from tests.smtp_server import LocalCA, SMTPServerFactory

pytestmark = pytest.mark.django_db

PASSWORD = "sm7p-p4ssw0rd-never-shown"
CLIENT_SECRET = "Qx8~client-secret-never-shown.f3"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
CLIENT_ID = "8c3b2e7a-51f4-4d0e-9a66-2f0d1c5b7e90"
SCOPE = "https://outlook.office365.com/.default"
MAILBOX = "noreply@example.org"
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


def base(**changes: Any) -> dict[str, Any]:
    values = {
        "host": "smtp.office365.com",
        "port": 587,
        "protocol": "smtp",
        "use_tls": True,
        "sender_name": "Autom Mate",
        "sender_email": MAILBOX,
    }
    return values | changes


def oauth2(**changes: Any) -> dict[str, Any]:
    return base(
        **{
            "use_auth": True,
            "auth_method": "oauth2",
            "username": MAILBOX,
            "token_url": TOKEN_URL,
            "client_id": CLIENT_ID,
            "scope": SCOPE,
            **changes,
        }
    )


def google(**changes: Any) -> dict[str, Any]:
    return base(
        **{
            "host": "smtp.gmail.com",
            "use_auth": True,
            "auth_method": "google-service-account",
            "username": MAILBOX,
            **changes,
        }
    )


def password(**changes: Any) -> dict[str, Any]:
    return base(**{"use_auth": True, "auth_method": "password", "username": "mailer", **changes})


def secrets_in(text: str) -> list[str]:
    """Return which of this module's secrets appear in `text` (none should)."""
    return [name for name, value in SECRETS.items() if value in text]


SECRETS = {
    "password": PASSWORD,
    "client secret": CLIENT_SECRET,
    "client certificate key": private_key_body(client_certificate_pem()),
    "service account key": private_key_body(json.loads(service_account_key())["private_key"]),
}


def assert_secrets_absent(response: Any) -> dict[str, Any]:
    text = response.content.decode()
    assert secrets_in(text) == []
    body: dict[str, Any] = response.json()
    assert not set(body) & set(SECRET_FIELDS)
    return body


def test_client_secret_is_saved_and_never_returned(admin_api: ApiClient) -> None:
    response = admin_api.put("/mail-server", oauth2(client_secret=CLIENT_SECRET))

    assert response.status_code == HTTPStatus.OK, response.content
    body = assert_secrets_absent(response)
    assert body["auth_method"] == "oauth2"
    assert body["token_url"] == TOKEN_URL
    assert body["client_id"] == CLIENT_ID
    assert body["scope"] == SCOPE
    assert body["username"] == MAILBOX
    assert body["client_secret_set"] is True
    assert body["client_certificate_set"] is False
    assert body["password_set"] is body["has_password"] is False
    assert body["service_account_key_set"] is False
    assert body["service_account_email"] == ""
    assert body["verified"] is False
    assert assert_secrets_absent(admin_api.get("/mail-server")) == body
    saved = MailServerSettings.objects.get()
    assert CLIENT_SECRET not in saved.client_secret_encrypted
    assert saved.secret("client_secret") == CLIENT_SECRET


def test_client_certificate_is_saved_and_never_returned(admin_api: ApiClient) -> None:
    pem = client_certificate_pem()

    response = admin_api.put("/mail-server", oauth2(client_certificate=pem))

    assert response.status_code == HTTPStatus.OK, response.content
    body = assert_secrets_absent(response)
    assert body["client_certificate_set"] is True
    assert body["client_secret_set"] is False
    assert_secrets_absent(admin_api.get("/mail-server"))
    assert mail_server_get().secret("client_certificate") == pem.strip()


def test_service_account_key_is_saved_and_only_its_email_shown(admin_api: ApiClient) -> None:
    response = admin_api.put("/mail-server", google(service_account_key=service_account_key()))

    assert response.status_code == HTTPStatus.OK, response.content
    body = assert_secrets_absent(response)
    assert body["auth_method"] == "google-service-account"
    assert body["service_account_key_set"] is True
    assert body["service_account_email"] == SERVICE_ACCOUNT_EMAIL
    assert body["token_url"] == body["client_id"] == body["scope"] == ""
    assert body["client_secret_set"] is body["password_set"] is False
    read = assert_secrets_absent(admin_api.get("/mail-server"))
    assert read["service_account_email"] == SERVICE_ACCOUNT_EMAIL


def test_old_password_payload_without_a_method_still_works(admin_api: ApiClient) -> None:
    payload = base(use_auth=True, username="mailer", password=PASSWORD)

    response = admin_api.put("/mail-server", payload)

    assert response.status_code == HTTPStatus.OK, response.content
    body = assert_secrets_absent(response)
    assert body["auth_method"] == "password"
    assert body["password_set"] is body["has_password"] is True
    assert body["client_secret_set"] is False
    assert mail_server_get().password() == PASSWORD


def test_saving_without_the_secret_keeps_the_saved_one(admin_api: ApiClient) -> None:
    admin_api.put("/mail-server", oauth2(client_secret=CLIENT_SECRET))

    response = admin_api.put("/mail-server", oauth2(sender_name="Ops", scope="other.scope"))

    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["client_secret_set"] is True
    assert mail_server_get().secret("client_secret") == CLIENT_SECRET


@pytest.mark.parametrize(
    "change",
    [{"token_url": "https://login.example.net/token"}, {"client_id": "another-client"}],
    ids=["token_url", "client_id"],
)
def test_moving_the_client_secret_elsewhere_needs_it_again(
    admin_api: ApiClient, change: dict[str, str]
) -> None:
    admin_api.put("/mail-server", oauth2(client_secret=CLIENT_SECRET))

    response = admin_api.put("/mail-server", oauth2(**change))

    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["client_secret"]
    assert (
        "Enter the client secret (or client certificate) again"
        in body["fields"]["client_secret"][0]
    )
    assert secrets_in(response.content.decode()) == []
    assert mail_server_get().token_url == TOKEN_URL


def test_testing_unsaved_settings_that_move_the_secret_needs_it_again(
    admin_api: ApiClient,
) -> None:
    admin_api.put("/mail-server", oauth2(client_secret=CLIENT_SECRET))

    response = admin_api.post(
        "/mail-server/test",
        {
            "recipient": "ops@example.org",
            "settings": oauth2(token_url="https://login.example.net/token"),
        },
    )

    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["settings.client_secret"]


def _key_of_another_certificate() -> str:
    return private_key_pem(rsa_key("client-certificate")) + certificate_pem(rsa_key("other"))


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (oauth2(client_certificate="not a certificate"), "client_certificate", "no private key"),
        (
            oauth2(client_certificate=private_key_pem(rsa_key("client-certificate"))),
            "client_certificate",
            "holds no certificate",
        ),
        (
            oauth2(client_certificate=_key_of_another_certificate()),
            "client_certificate",
            "does not belong to the private key",
        ),
        (
            oauth2(client_secret=CLIENT_SECRET, client_certificate=client_certificate_pem()),
            "client_certificate",
            "not both",
        ),
        (oauth2(), "client_secret", "Enter the client secret"),
        (oauth2(client_secret=f"{CLIENT_SECRET}\nX"), "client_secret", "one line"),
        (
            oauth2(client_secret=CLIENT_SECRET, token_url="http://login.example.org/token"),
            "token_url",
            "https",
        ),
        (
            oauth2(client_secret=CLIENT_SECRET, token_url="https://[login/token"),
            "token_url",
            "not a valid URL",
        ),
        (
            oauth2(
                client_secret=CLIENT_SECRET,
                token_url="https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token",
            ),
            "token_url",
            "placeholder",
        ),
        (oauth2(client_secret=CLIENT_SECRET, client_id=""), "client_id", "client ID"),
        (oauth2(client_secret=CLIENT_SECRET, username=""), "username", "mailbox"),
        (google(service_account_key="{not json"), "service_account_key", "not JSON"),
        (
            google(service_account_key=service_account_key(type="authorized_user")),
            "service_account_key",
            "not a service account key",
        ),
        (
            google(service_account_key=service_account_key(private_key="-----BEGIN nonsense")),
            "service_account_key",
            "could not be read",
        ),
        (
            google(service_account_key=service_account_key(client_email="")),
            "service_account_key",
            "lacks client_email",
        ),
        (
            google(
                service_account_key=service_account_key(token_uri="http://oauth2.example/token")
            ),
            "service_account_key",
            "https",
        ),
        (google(), "service_account_key", "Paste the service account's JSON key"),
        (
            google(service_account_key=service_account_key(), username="noreply"),
            "username",
            "full address",
        ),
    ],
    ids=[
        "certificate-not-pem",
        "certificate-key-only",
        "certificate-of-another-key",
        "secret-and-certificate",
        "no-client-secret",
        "secret-on-two-lines",
        "token-url-http",
        "token-url-invalid",
        "token-url-placeholder",
        "no-client-id",
        "no-mailbox",
        "key-not-json",
        "key-of-another-type",
        "key-private-key-unreadable",
        "key-without-email",
        "key-token-uri-http",
        "no-key",
        "workspace-user-not-an-address",
    ],
)
def test_invalid_login_settings_get_field_errors_that_echo_no_secret(
    admin_api: ApiClient, payload: dict[str, Any], field: str, message: str
) -> None:
    response = admin_api.put("/mail-server", payload)

    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert message in " ".join(body["fields"][field]), body
    text = response.content.decode()
    assert secrets_in(text) == []
    for name in SECRET_FIELDS:
        if payload.get(name):
            assert payload[name] not in text
            assert payload[name].strip() not in text
    assert not MailServerSettings.objects.exists()


def test_secrets_of_a_wrongly_typed_payload_are_not_echoed(admin_api: ApiClient) -> None:
    response = admin_api.put(
        "/mail-server", oauth2(client_secret=[CLIENT_SECRET], auth_method="kerberos")
    )

    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert {"client_secret", "auth_method"} <= set(body["fields"])
    assert CLIENT_SECRET not in response.content.decode()
    assert "kerberos" not in response.content.decode()


def test_switching_methods_removes_the_other_methods_secrets(admin_api: ApiClient) -> None:
    def saved_secrets() -> set[str]:
        saved = mail_server_get()
        return {name for name in SECRET_FIELDS if saved.has_secret(name)}

    assert admin_api.put("/mail-server", password(password=PASSWORD)).status_code == HTTPStatus.OK
    assert saved_secrets() == {"password"}

    body = admin_api.put("/mail-server", oauth2(client_secret=CLIENT_SECRET)).json()
    assert (body["password_set"], body["has_password"], body["client_secret_set"]) == (
        False,
        False,
        True,
    )
    assert saved_secrets() == {"client_secret"}

    body = admin_api.put("/mail-server", oauth2(client_certificate=client_certificate_pem())).json()
    assert (body["client_secret_set"], body["client_certificate_set"]) == (False, True)
    assert saved_secrets() == {"client_certificate"}

    body = admin_api.put("/mail-server", google(service_account_key=service_account_key())).json()
    assert body["client_certificate_set"] is False
    assert body["service_account_key_set"] is True
    assert body["token_url"] == body["client_id"] == body["scope"] == ""
    assert saved_secrets() == {"service_account_key"}

    body = admin_api.put("/mail-server", password(password=PASSWORD)).json()
    assert body["service_account_key_set"] is False
    assert body["service_account_email"] == ""
    assert body["password_set"] is True
    assert saved_secrets() == {"password"}

    body = admin_api.put("/mail-server", base(use_auth=False)).json()
    assert body["password_set"] is False
    assert body["username"] == ""
    assert saved_secrets() == set()


def test_switching_to_a_method_needs_its_secret(admin_api: ApiClient) -> None:
    admin_api.put("/mail-server", password(password=PASSWORD))

    response = admin_api.put("/mail-server", oauth2())

    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["client_secret"]
    assert mail_server_get().password() == PASSWORD


def test_a_key_saved_under_a_retired_encryption_key_names_no_email(
    admin_api: ApiClient, settings
) -> None:
    admin_api.put("/mail-server", google(service_account_key=service_account_key()))
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = admin_api.get("/mail-server")

    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert body["service_account_key_set"] is True
    assert body["service_account_email"] == ""


def test_unreadable_saved_key_names_no_email(admin_api: ApiClient) -> None:
    admin_api.put("/mail-server", google(service_account_key=service_account_key()))
    from autommate.mailserver.secrets import encrypt

    MailServerSettings.objects.update(service_account_key_encrypted=encrypt("{}"))

    body = admin_api.get("/mail-server").json()

    assert body["service_account_key_set"] is True
    assert body["service_account_email"] == ""


# Against a real token endpoint (tests/oauth_provider.py) and an SMTP server that takes XOAUTH2.


def _code_from(message: Any) -> str:
    match = CODE.search(message.get_body(("plain",)).get_content())
    assert match, "no confirmation code in the test mail"
    return match[1]


@pytest.mark.parametrize("credential", ["client_secret", "client_certificate", "service_account"])
def test_oauth_login_is_tested_and_verified_through_a_real_token_endpoint(
    admin_api: ApiClient,
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    credential: str,
) -> None:
    where = {"host": "localhost", "use_tls": True, "ca_certificate": test_ca.pem}
    if credential == "service_account":
        key = token_endpoint.add_service_account(delegated_users=[MAILBOX])
        server = smtp_server_factory("starttls", oauth=token_endpoint, xoauth2_style="google")
        settings = google(**where, port=server.port, service_account_key=key)
    else:
        pem, certificate = make_certificate_credential()
        token_endpoint.add_client(
            CLIENT_ID, secret=CLIENT_SECRET, certificate=certificate, mailboxes=[MAILBOX]
        )
        server = smtp_server_factory("starttls", oauth=token_endpoint, password_login=False)
        secret = {"client_secret": CLIENT_SECRET, "client_certificate": pem}[credential]
        settings = oauth2(
            **where,
            port=server.port,
            token_url=token_endpoint.microsoft_url(),
            **{credential: secret},
        )

    saved = admin_api.put("/mail-server", settings)
    assert saved.status_code == HTTPStatus.OK, saved.content
    assert saved.json()["verified"] is False

    response = admin_api.post("/mail-server/test", {"recipient": "ops@example.org"})
    assert response.status_code == HTTPStatus.OK, response.content
    result = response.json()
    assert result["ok"] is True, result
    assert result["tested_saved_settings"] is True
    names = [step["name"] for step in result["steps"]]
    assert names.index("token") == names.index("login") - 1
    token_step = result["steps"][names.index("token")]
    assert token_step["status"] == "passed"
    assert token_step["label"] == "Get access token"
    assert token_step["detail"].startswith("Got an access token from localhost")
    assert token_endpoint.token_requests == 1
    (message,) = server.wait_for(1)
    assert message.login == MAILBOX
    assert message["To"] == "ops@example.org"

    confirmed = admin_api.post("/mail-server/confirm", {"code": _code_from(message)})
    assert confirmed.status_code == HTTPStatus.OK, confirmed.content
    assert confirmed.json()["verified"] is True
    assert mail_server_get().is_verified
    assert secrets_in(response.content.decode() + confirmed.content.decode()) == []


def test_a_refused_client_secret_fails_at_the_token_step(
    admin_api: ApiClient,
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
) -> None:
    token_endpoint.add_client(CLIENT_ID, secret="the-secret-entra-knows", mailboxes=[MAILBOX])
    server = smtp_server_factory("starttls", oauth=token_endpoint, password_login=False)
    settings = oauth2(
        host="localhost",
        port=server.port,
        ca_certificate=test_ca.pem,
        token_url=token_endpoint.microsoft_url(),
        client_secret=CLIENT_SECRET,
    )

    result = admin_api.post(
        "/mail-server/test", {"recipient": "ops@example.org", "settings": settings}
    ).json()

    assert result["ok"] is False
    assert result["failed_step"] == "token"
    failed = next(step for step in result["steps"] if step["status"] == "failed")
    assert failed["cause"]
    assert failed["fix"]
    assert CLIENT_SECRET not in json.dumps(result)
    assert server.logins == []
