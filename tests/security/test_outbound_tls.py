"""Point 15: with Enable TLS nothing is said in clear, certificates are always verified, and no
password or access token is sent without TLS unless an administrator allowed it.

Answers STARTTLS stripping (a man in the middle removes STARTTLS from the server's EHLO reply to
read the login and the reset links); ASVS 5.0 V12.3 (TLS for outbound connections, certificates
validated); NIST SP 800-63B-4 (authenticated protected channels).
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.test import Client

from autommate.delivery.models import Kind, OutgoingMessage, State
from tests.smtp_server import SMTPTestServer

from .conftest import Mailbox, mail_form, request_reset

pytestmark = pytest.mark.django_db

SECRET = "tls-protected-secret"
CLEAR_TEXT_AFTER_TLS = {"AUTH", "MAIL", "RCPT", "DATA"}


def tls_form(server: SMTPTestServer, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "use_tls": "on",
        "use_auth": "on",
        "username": server.username,
        "password": SECRET,
        "test_recipient": "ops@example.org",
        **overrides,
    }
    return mail_form(server, **values)


def result_page(admin_client: Client, values: dict[str, Any]) -> str:
    response = admin_client.post("/settings/mail/test/", values)
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


def test_enable_tls_without_starttls_offered_sends_no_login_and_no_message(
    admin_client: Client, smtp_server_factory
) -> None:
    plain = smtp_server_factory("plain", auth=True, password=SECRET)

    page = result_page(admin_client, tls_form(plain))

    assert "Failed" in page
    assert "TLS" in page
    assert "STARTTLS" in page
    assert not CLEAR_TEXT_AFTER_TLS & set(plain.commands), plain.commands
    assert plain.logins == []
    assert plain.messages == []


def test_queued_mail_is_not_sent_in_clear_when_starttls_is_missing(
    mailbox: Mailbox, regular_user, smtp_server_factory
) -> None:
    from autommate.mailserver.models import MailServerSettings
    from autommate.mailserver.secrets import encrypt

    plain = smtp_server_factory("plain", auth=True, password=SECRET)
    saved = MailServerSettings.objects.get()
    saved.port, saved.use_tls, saved.use_auth = plain.port, True, True
    saved.username, saved.password_encrypted = plain.username, encrypt(SECRET)
    saved.save()

    request_reset(Client(), regular_user.email)
    mailbox.run_worker()

    assert not CLEAR_TEXT_AFTER_TLS & set(plain.commands), plain.commands
    assert plain.logins == []
    assert plain.messages == []
    message = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert message.state in {State.FAILED, State.RETRYING}
    assert "STARTTLS" in message.last_error


@pytest.mark.parametrize(
    ("mode", "cert", "with_ca"),
    [
        ("starttls", "self-signed", True),
        ("starttls", "wrong-name", True),
        ("starttls", "ca", False),
        ("tls", "self-signed", True),
        ("tls", "wrong-name", True),
        ("tls", "ca", False),
    ],
)
def test_untrusted_certificates_are_refused_before_anything_is_said(
    admin_client: Client, smtp_server_factory, test_ca, mode: str, cert: str, with_ca: bool
) -> None:
    server = smtp_server_factory(mode, auth=True, password=SECRET, cert=cert)
    overrides: dict[str, Any] = {"ca_certificate": test_ca.pem if with_ca else ""}
    if mode == "tls":
        overrides |= {"protocol": "smtps", "use_tls": None}

    page = result_page(admin_client, tls_form(server, **overrides))

    assert "Failed" in page
    assert "certificate" in page.lower()
    assert not CLEAR_TEXT_AFTER_TLS & set(server.commands), server.commands
    assert server.logins == []
    assert server.messages == []


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_configured_ca_certificate_is_trusted(
    admin_client: Client, smtp_server_factory, test_ca, mode: str
) -> None:
    server = smtp_server_factory(mode, auth=True, password=SECRET)
    overrides: dict[str, Any] = {"ca_certificate": test_ca.pem}
    if mode == "tls":
        overrides |= {"protocol": "smtps", "use_tls": None}

    page = result_page(admin_client, tls_form(server, **overrides))

    assert "Accepted by the server" in page
    assert server.logins == [server.username]


def test_system_cas_stay_trusted_beside_the_configured_one(
    admin_client: Client, smtp_server_factory, test_ca, tmp_path: Path, monkeypatch
) -> None:
    system_bundle = tmp_path / "system-cas.pem"
    system_bundle.write_text(test_ca.pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(system_bundle))
    server = smtp_server_factory("starttls", auth=True, password=SECRET)
    unrelated_ca = trustme.CA().cert_pem.bytes().decode()

    for configured in ("", unrelated_ca):
        page = result_page(admin_client, tls_form(server, ca_certificate=configured))
        assert "Accepted by the server" in page, configured[:30]
    assert server.logins == [server.username] * 2


def test_no_password_crosses_a_connection_without_tls_unless_allowed(
    admin_client: Client, smtp_server_factory
) -> None:
    plain = smtp_server_factory("plain", auth=True, password=SECRET)
    values = tls_form(plain, use_tls=None)

    refused = result_page(admin_client, values)

    assert "Failed</span> at the step “Log in”" in refused
    assert "not encrypted" in refused
    assert "Allow login without TLS" in refused
    assert not {"AUTH", "MAIL"} & set(plain.commands), plain.commands
    assert plain.logins == []

    allowed = result_page(admin_client, {**values, "allow_insecure_login": "on"})

    assert "Accepted by the server" in allowed
    assert plain.logins == [plain.username]


def test_no_access_token_crosses_a_connection_without_tls_unless_allowed(
    admin_client: Client, smtp_server_factory, token_endpoint, test_ca
) -> None:
    token_endpoint.add_client("client", secret=SECRET)
    plain = smtp_server_factory("plain", oauth=token_endpoint)
    values = mail_form(
        plain,
        use_auth="on",
        auth_method="oauth2",
        username="noreply@example.org",
        token_url=token_endpoint.microsoft_url(),
        client_id="client",
        client_secret=SECRET,
        scope="https://outlook.office365.com/.default",
        ca_certificate=test_ca.pem,
        test_recipient="ops@example.org",
    )

    refused = result_page(admin_client, values)

    assert "Failed</span> at the step “Log in”" in refused
    assert "access token was not sent" in refused
    assert token_endpoint.token_requests == 0
    assert not {"AUTH", "MAIL"} & set(plain.commands), plain.commands

    allowed = result_page(admin_client, {**values, "allow_insecure_login": "on"})

    assert "Accepted by the server" in allowed
    assert plain.logins == ["noreply@example.org"]


def test_queued_mail_logs_in_without_tls_only_when_allowed(
    mailbox: Mailbox, regular_user, smtp_server_factory
) -> None:
    from autommate.mailserver.models import MailServerSettings
    from autommate.mailserver.secrets import encrypt

    plain = smtp_server_factory("plain", auth=True, password=SECRET)
    saved = MailServerSettings.objects.get()
    saved.port, saved.use_tls, saved.use_auth = plain.port, False, True
    saved.username, saved.password_encrypted = plain.username, encrypt(SECRET)
    saved.save()

    request_reset(Client(), regular_user.email)
    mailbox.run_worker()

    assert not {"AUTH", "MAIL"} & set(plain.commands), plain.commands
    assert plain.logins == []
    refused = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert refused.state == State.FAILED
    assert "not encrypted" in refused.last_error

    saved.allow_insecure_login = True
    saved.save()
    request_reset(Client(REMOTE_ADDR="198.51.100.2"), regular_user.email)
    mailbox.run_worker()

    assert plain.logins == [plain.username]
    assert len(plain.messages) == 1
