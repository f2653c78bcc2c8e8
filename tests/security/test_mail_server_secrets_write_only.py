"""Every mail server secret is write-only, in the API and the CLI alike, and never logged.

ASVS 5.0 V13.3 (secrets never returned), V16.2 (no secrets in logs): the password, the OAuth 2.0
client secret, the client certificate's private key and the service account's key go in, are
used to log in, and come out nowhere: not in an API answer (validation errors included), not in
the CLI's output, not in the audit log, the mail log or any other row, and not in a log line,
after saving them and after a test mail that fails.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from autommate.accounts.models import User
from autommate.audit.models import AuditEvent
from tests.api.conftest import ApiClient, token_for
from tests.credentials import (
    GOOGLE_TOKEN_URI,
    client_certificate_pem,
    private_key_body,
    service_account_key,
)
from tests.oauth_provider import TokenEndpoint
from tests.smtp_server import LocalCA, SMTPServerFactory

from .conftest import everything_stored

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-Secret-SMTP-Passw0rd!"
CLIENT_SECRET = "Qx8~client-secret-never-anywhere.f3"
CERTIFICATE = client_certificate_pem("secret-certificate")
KEY_FILE = "service-account-never-anywhere"
MAILBOX = "noreply@example.org"


@dataclass
class Login:
    """One authentication method: its settings, its secret, and how the CLI is given it."""

    method: str
    secret_field: str
    secret: str
    # What must appear nowhere: the secret, or for a PEM key a line of its private key.
    needle: str
    settings: Callable[[TokenEndpoint], dict[str, Any]]
    cli_args: Callable[[Path, TokenEndpoint], list[str]]


def _key_file(token_uri: str) -> str:
    return service_account_key(token_uri=token_uri, name=KEY_FILE)


def _written(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    return str(path)


def _oauth2(endpoint: TokenEndpoint, **secret: str) -> dict[str, Any]:
    return {
        "auth_method": "oauth2",
        "username": MAILBOX,
        "token_url": endpoint.microsoft_url(),
        "client_id": "8c3b2e7a-51f4-4d0e-9a66-2f0d1c5b7e90",
        "scope": "https://outlook.office365.com/.default",
        **secret,
    }


def _oauth2_cli(endpoint: TokenEndpoint) -> list[str]:
    return [
        "--username",
        MAILBOX,
        "--token-url",
        endpoint.microsoft_url(),
        "--client-id",
        "8c3b2e7a-51f4-4d0e-9a66-2f0d1c5b7e90",
    ]


LOGINS = [
    Login(
        "password",
        "password",
        PASSWORD,
        PASSWORD,
        lambda endpoint: {"auth_method": "password", "username": "mailer", "password": PASSWORD},
        lambda directory, endpoint: ["--username", "mailer", "--password-stdin"],
    ),
    Login(
        "oauth2",
        "client_secret",
        CLIENT_SECRET,
        CLIENT_SECRET,
        lambda endpoint: _oauth2(endpoint, client_secret=CLIENT_SECRET),
        lambda directory, endpoint: [*_oauth2_cli(endpoint), "--client-secret-stdin"],
    ),
    Login(
        "oauth2",
        "client_certificate",
        CERTIFICATE,
        private_key_body(CERTIFICATE),
        lambda endpoint: _oauth2(endpoint, client_certificate=CERTIFICATE),
        lambda directory, endpoint: [
            *_oauth2_cli(endpoint),
            "--client-certificate",
            _written(directory, "client.pem", CERTIFICATE),
        ],
    ),
    Login(
        "google-service-account",
        "service_account_key",
        "",
        private_key_body(json.loads(_key_file(GOOGLE_TOKEN_URI))["private_key"]),
        lambda endpoint: {
            "auth_method": "google-service-account",
            "username": MAILBOX,
            "service_account_key": _key_file(endpoint.google_url),
        },
        lambda directory, endpoint: [
            "--username",
            MAILBOX,
            "--service-account-key",
            _written(directory, "key.json", _key_file(endpoint.google_url)),
        ],
    ),
]


def assert_nowhere(login: Login, *texts: str) -> None:
    for text in texts:
        assert login.needle not in text
        if login.secret:
            assert login.secret not in text
            assert login.secret.lower() not in text.lower()


def _cli(*args: str, stdin: str = "") -> tuple[str, str]:
    """Run `autommate` in this process; return its output and the reason it failed, if it did."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue() + err.getvalue(), str(error)
    return out.getvalue() + err.getvalue(), ""


@pytest.mark.parametrize(
    "login", LOGINS, ids=["password", "client-secret", "client-certificate", "service-account"]
)
def test_no_secret_in_answers_output_audit_or_logs(
    login: Login,
    admin_user: User,
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    every_log_line: io.StringIO,
) -> None:
    # The password method fails at its login; the others at getting a token, as the endpoint
    # knows neither the client nor the service account the secrets are sent for.
    server = smtp_server_factory(auth=True, username="mailer", password="not-the-secret")
    api = ApiClient(token=token_for(admin_user))
    settings = {
        "host": server.host,
        "port": server.port,
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": "Autom Mate",
        "sender_email": MAILBOX,
        "use_auth": True,
        "allow_insecure_login": True,
        "ca_certificate": test_ca.pem,
        **login.settings(token_endpoint),
    }
    answers = []

    saved = api.put("/mail-server", settings)
    assert saved.status_code == HTTPStatus.OK, saved.content
    assert saved.json()[f"{login.secret_field}_set"] is True
    answers.append(saved)
    invalid = api.put("/mail-server", {**settings, "port": 0})
    assert invalid.status_code == HTTPStatus.BAD_REQUEST
    answers.append(invalid)
    for body in (
        {"recipient": "ops@example.org"},
        {"recipient": "ops@example.org", "settings": settings},
    ):
        tested = api.post("/mail-server/test", body)
        assert tested.status_code == HTTPStatus.OK, tested.content
        assert tested.json()["ok"] is False
        assert tested.json()["failed_step"] == ("login" if login.method == "password" else "token")
        answers.append(tested)
    answers += [api.get(path) for path in ("/mail-server", "/audit-events", "/mail-log")]
    assert_nowhere(login, *(answer.content.decode() for answer in answers))

    monkeypatch.setattr("sys.stdin", io.StringIO(login.secret + "\n"))
    output, failure = _cli("mailserver", "set", *login.cli_args(tmp_path, token_endpoint))
    assert failure == ""
    assert "saved (never shown)" in output
    shown, _ = _cli("mailserver", "show")
    as_json, _ = _cli("mailserver", "show", "--json")
    tested_output, test_failure = _cli("mailserver", "test", "--to", "ops@example.org")
    assert test_failure.startswith("The test mail failed at ")
    assert_nowhere(login, output, shown, as_json, tested_output, test_failure)
    if login.method != "password":
        assert token_endpoint.token_requests == 3  # the secret was sent, and refused, each time

    audit = [repr(row) for row in AuditEvent.objects.values()]
    assert len(audit) >= 4
    assert_nowhere(login, *audit)
    assert_nowhere(login, everything_stored())
    assert caplog.records
    assert_nowhere(login, caplog.text, every_log_line.getvalue())


def test_a_saved_client_secret_never_goes_to_a_changed_token_url(
    admin_client: Any,
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
) -> None:
    # Whoever takes over an administrator's session must not be able to send the saved secret,
    # or an assertion signed with the saved certificate, to a token endpoint of their own.
    token_endpoint.add_client("bound-client", secret=CLIENT_SECRET)
    server = smtp_server_factory("starttls", oauth=token_endpoint)
    form = {
        "host": "localhost",
        "port": server.port,
        "protocol": "smtp",
        "use_tls": "on",
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
        "use_auth": "on",
        "auth_method": "oauth2",
        "username": "noreply@example.org",
        "token_url": token_endpoint.microsoft_url(),
        "client_id": "bound-client",
        "client_secret": CLIENT_SECRET,
        "scope": "https://outlook.office365.com/.default",
        "ca_certificate": test_ca.pem,
    }
    assert admin_client.post("/settings/mail/", form).status_code == HTTPStatus.FOUND
    attacker = token_endpoint.microsoft_url("attacker")

    response = admin_client.post(
        "/settings/mail/test/",
        {**form, "client_secret": "", "token_url": attacker, "test_recipient": "ops@example.org"},
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter the client secret (or client certificate) again" in response.content.decode()
    assert token_endpoint.requests == []
    # With the token URL it was saved for, the saved secret is used as before.
    same = admin_client.post(
        "/settings/mail/test/",
        {**form, "client_secret": "", "test_recipient": "ops@example.org"},
    )
    assert "Accepted by the server" in same.content.decode()
    assert [request.path for request in token_endpoint.requests] == ["/contoso/oauth2/v2.0/token"]
    # Nor is the access token made from it shown.
    [issued] = token_endpoint.issued
    assert issued.access_token not in same.content.decode()
