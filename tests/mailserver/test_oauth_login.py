"""OAuth 2.0 logins for real: a token endpoint on 127.0.0.1 and an SMTP server that takes XOAUTH2.

The endpoint (tests/oauth_provider.py) speaks Microsoft Entra's client credentials grant and
Google's JWT bearer grant with their real error bodies; the SMTP server accepts only the tokens it
issued. Every failure of the token step is produced for real, except a wrong clock.
"""

from __future__ import annotations

import logging
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any

import pytest
from django.core.mail import EmailMessage as DjangoEmailMessage

from autommate.mailserver import tokens
from autommate.mailserver.backend import MailServerBackend
from autommate.mailserver.connection import ServerConfig
from autommate.mailserver.diagnosis import diagnose
from autommate.mailserver.steps import Diagnosis, StepName
from tests.oauth_provider import TokenEndpoint, make_certificate_credential
from tests.smtp_server import LocalCA, SMTPServerFactory, SMTPTestServer

SENDER = "noreply@example.org"
RECIPIENT = "ada@example.org"
MAILBOX = "noreply@example.org"
CLIENT_ID = "6f1c2a5e-1b7d-4c1e-9f00-2a1b3c4d5e6f"
CLIENT_SECRET = "Qx8~vJ2.secret-value-of-the-app"
OUTLOOK_SCOPE = "https://outlook.office365.com/.default"


def _message() -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = "Test mail from Autom Mate"
    message.set_content("If you can read this, the mail server settings work.")
    return message.as_bytes(policy=SMTP_POLICY)


def _diagnose(config: ServerConfig, deadline_seconds: float = 5.0) -> Diagnosis:
    return diagnose(
        config,
        sender=SENDER,
        recipient=RECIPIENT,
        message=_message(),
        deadline_seconds=deadline_seconds,
    )


def _microsoft(
    server: SMTPTestServer, endpoint: TokenEndpoint, ca: LocalCA, **changes: Any
) -> ServerConfig:
    values: dict[str, Any] = {
        "host": "localhost",
        "port": server.port,
        "protocol": "smtp",
        "use_tls": True,
        "use_auth": True,
        "auth_method": "oauth2",
        "username": MAILBOX,
        "ca_certificate": ca.pem,
        "timeout_seconds": 5.0,
        "token_url": endpoint.microsoft_url(),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": OUTLOOK_SCOPE,
    }
    values.update(changes)
    return ServerConfig(**values)


def _google(
    server: SMTPTestServer, key: str, ca: LocalCA, *, username: str = MAILBOX
) -> ServerConfig:
    return ServerConfig(
        host="localhost",
        port=server.port,
        protocol="smtp",
        use_tls=True,
        use_auth=True,
        auth_method="google-service-account",
        username=username,
        ca_certificate=ca.pem,
        timeout_seconds=5.0,
        service_account_key=key,
    )


@pytest.fixture
def microsoft(
    smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint
) -> SMTPTestServer:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET, mailboxes=[MAILBOX])
    return smtp_server_factory("starttls", oauth=token_endpoint, password_login=False)


@pytest.fixture
def gmail(smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint) -> SMTPTestServer:
    return smtp_server_factory("starttls", oauth=token_endpoint, xoauth2_style="google")


def _failure(diagnosis: Diagnosis, step: StepName) -> str:
    failure = diagnosis.failure
    assert failure is not None, diagnosis.as_dict()
    assert failure.name == step, diagnosis.as_dict()
    assert failure.cause
    assert failure.fix
    return f"{failure.cause} {failure.fix}"


# The journeys that work.


def test_microsoft_365_with_a_client_secret(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    diagnosis = _diagnose(_microsoft(microsoft, token_endpoint, test_ca))

    assert diagnosis.ok, diagnosis.as_dict()
    names = [step.name for step in diagnosis.steps]
    assert names.index(StepName.TOKEN) == names.index(StepName.LOGIN) - 1
    token_step = diagnosis.step(StepName.TOKEN)
    assert token_step.detail.startswith("Got an access token from localhost, valid for 60 min")
    assert "XOAUTH2" in diagnosis.step(StepName.LOGIN).detail
    [received] = microsoft.wait_for(1)
    assert received.login == MAILBOX
    [request] = [r for r in token_endpoint.requests if r.method == "POST"]
    assert request.form["grant_type"] == "client_credentials"
    assert request.form["scope"] == OUTLOOK_SCOPE


def test_microsoft_365_with_a_client_certificate(
    smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    pem, certificate = make_certificate_credential()
    token_endpoint.add_client(CLIENT_ID, certificate=certificate)
    server = smtp_server_factory("starttls", oauth=token_endpoint)

    diagnosis = _diagnose(
        _microsoft(server, token_endpoint, test_ca, client_secret="", client_certificate=pem)
    )

    assert diagnosis.ok, diagnosis.as_dict()
    [request] = [r for r in token_endpoint.requests if r.method == "POST"]
    assert "client_secret" not in request.form
    assert request.form["client_assertion_type"] == tokens.CLIENT_ASSERTION_TYPE
    server.wait_for(1)


def test_google_workspace_with_a_service_account(
    gmail: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    key = token_endpoint.add_service_account(delegated_users=[MAILBOX])

    diagnosis = _diagnose(_google(gmail, key, test_ca))

    assert diagnosis.ok, diagnosis.as_dict()
    [received] = gmail.wait_for(1)
    assert received.login == MAILBOX
    [request] = [r for r in token_endpoint.requests if r.method == "POST"]
    assert request.form["grant_type"] == tokens.JWT_BEARER_GRANT


def test_a_hundred_mails_cost_one_token_request(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    config = _microsoft(microsoft, token_endpoint, test_ca)

    # Ten batches of ten, each on its own connection, as the delivery worker sends them.
    for batch in range(10):
        backend = MailServerBackend(config=config)
        sent = backend.send_messages(
            [
                DjangoEmailMessage(f"Mail {batch}.{n}", "Hello", SENDER, [RECIPIENT])
                for n in range(10)
            ]
        )
        assert sent == 10

    assert len(microsoft.wait_for(100)) == 100
    assert token_endpoint.token_requests == 1


def test_a_revoked_token_is_replaced_once_and_the_mail_goes_out(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    config = _microsoft(microsoft, token_endpoint, test_ca)
    MailServerBackend(config=config).send_messages(
        [DjangoEmailMessage("First", "Hello", SENDER, [RECIPIENT])]
    )
    token_endpoint.revoke_all()

    sent = MailServerBackend(config=config).send_messages(
        [DjangoEmailMessage("Second", "Hello", SENDER, [RECIPIENT])]
    )

    assert sent == 1
    assert len(microsoft.wait_for(2)) == 2
    assert token_endpoint.token_requests == 2


def test_the_test_mail_always_proves_the_credentials_with_a_new_token(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    config = _microsoft(microsoft, token_endpoint, test_ca)
    MailServerBackend(config=config).send_messages(
        [DjangoEmailMessage("First", "Hello", SENDER, [RECIPIENT])]
    )

    assert _diagnose(config).ok
    assert token_endpoint.token_requests == 2


# What the token step says when it fails.


@pytest.mark.parametrize(
    ("changes", "register", "words"),
    [
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, {}, "no application"),
        ({"client_secret": "the-secret-id-not-its-value"}, {}, "not its Secret ID"),
        ({}, {"secret_expired": True}, "client secret has expired"),
        ({"scope": "https://graph.microsoft.com/.default"}, {}, "refused the scope"),
    ],
)
def test_entra_refusals_say_what_to_change(
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    changes: dict[str, str],
    register: dict[str, Any],
    words: str,
) -> None:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET, **register)
    server = smtp_server_factory("starttls", oauth=token_endpoint)

    diagnosis = _diagnose(_microsoft(server, token_endpoint, test_ca, **changes))

    text = _failure(diagnosis, StepName.TOKEN)
    assert words in text
    # The provider's own words are shown, with its AADSTS code.
    assert "AADSTS" in text
    assert diagnosis.step(StepName.LOGIN).status == "skipped"
    assert not server.logins


def test_an_unknown_tenant_is_named(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    config = _microsoft(
        microsoft, token_endpoint, test_ca, token_url=token_endpoint.microsoft_url("fabrikam")
    )

    text = _failure(_diagnose(config), StepName.TOKEN)

    assert "does not know the tenant" in text
    assert "AADSTS90002" in text


def test_a_certificate_the_application_does_not_know_is_refused(
    smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    _pem, registered = make_certificate_credential()
    other_pem, _other = make_certificate_credential()
    token_endpoint.add_client(CLIENT_ID, certificate=registered)
    server = smtp_server_factory("starttls", oauth=token_endpoint)

    diagnosis = _diagnose(
        _microsoft(server, token_endpoint, test_ca, client_secret="", client_certificate=other_pem)
    )

    assert "Upload the certificate" in _failure(diagnosis, StepName.TOKEN)


def test_a_wrong_clock_is_named(
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The only fault here that cannot be made for real: this machine's clock two hours behind.
    pem, certificate = make_certificate_credential()
    token_endpoint.add_client(CLIENT_ID, certificate=certificate)
    server = smtp_server_factory("starttls", oauth=token_endpoint)
    monkeypatch.setattr(tokens, "_now", lambda: int(time.time()) - 7200)

    diagnosis = _diagnose(
        _microsoft(server, token_endpoint, test_ca, client_secret="", client_certificate=pem)
    )

    assert "clock is probably wrong" in _failure(diagnosis, StepName.TOKEN)


def test_google_without_delegation_for_the_user(
    gmail: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    key = token_endpoint.add_service_account(delegated_users=["someone-else@example.org"])
    token_endpoint.google_users.add(MAILBOX)

    text = _failure(_diagnose(_google(gmail, key, test_ca)), StepName.TOKEN)

    assert "domain-wide delegation" in text
    assert "unauthorized_client" in text


def test_google_with_a_user_outside_the_domain(
    gmail: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    key = token_endpoint.add_service_account(delegated_users=[MAILBOX])

    diagnosis = _diagnose(_google(gmail, key, test_ca, username="stranger@elsewhere.example"))

    assert "knows no Workspace user stranger@elsewhere.example" in _failure(
        diagnosis, StepName.TOKEN
    )


def test_an_unreachable_token_url(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA, closed_port: int
) -> None:
    url = f"https://localhost:{closed_port}/contoso/oauth2/v2.0/token"

    text = _failure(
        _diagnose(_microsoft(microsoft, token_endpoint, test_ca, token_url=url)), StepName.TOKEN
    )

    assert "refused the connection" in text


def test_an_untrusted_token_url_certificate(
    smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    # A plain SMTP server, so that only the token URL's certificate (from the test CA) is left
    # without the CA certificate that would make it trusted.
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET)
    server = smtp_server_factory("plain", oauth=token_endpoint)
    config = _microsoft(
        server,
        token_endpoint,
        test_ca,
        use_tls=False,
        allow_insecure_login=True,
        ca_certificate="",
    )

    text = _failure(_diagnose(config), StepName.TOKEN)

    assert "not signed by an authority this system trusts" in text
    assert "CA certificate" in text
    assert token_endpoint.token_requests == 0


def test_a_slow_token_endpoint_ends_within_the_test_deadline(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    token_endpoint.delay_seconds = 10
    started = time.monotonic()

    diagnosis = _diagnose(_microsoft(microsoft, token_endpoint, test_ca), deadline_seconds=2)

    assert time.monotonic() - started < 3
    assert "did not answer in time" in _failure(diagnosis, StepName.TOKEN)
    assert diagnosis.temporary


@pytest.mark.parametrize(
    ("status", "body", "headers", "words"),
    [
        (200, "<html><body>Sign in to your account</body></html>", {}, "not an access token"),
        (302, "", {"Location": "https://evil.example/token"}, "redirect to https://evil"),
        (200, "x" * 70_000, {}, "more than 64 KB"),
        (503, "<h1>Service Unavailable</h1>", {}, "HTTP 503"),
    ],
)
def test_answers_that_are_not_tokens(
    microsoft: SMTPTestServer,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    status: int,
    body: str,
    headers: dict[str, str],
    words: str,
) -> None:
    token_endpoint.respond_with(status, body, headers=headers)

    diagnosis = _diagnose(_microsoft(microsoft, token_endpoint, test_ca))

    assert words in _failure(diagnosis, StepName.TOKEN)
    # A redirect is never followed.
    assert token_endpoint.token_requests == 1


def test_a_token_url_outside_the_allowed_destinations(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "localhost"
    url = f"https://127.0.0.1:{token_endpoint.port}/contoso/oauth2/v2.0/token"

    diagnosis = _diagnose(_microsoft(microsoft, token_endpoint, test_ca, token_url=url))

    assert "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS" in _failure(diagnosis, StepName.TOKEN)
    assert token_endpoint.token_requests == 0


def test_an_http_token_url_is_never_fetched(
    microsoft: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    url = f"http://localhost:{token_endpoint.port}/contoso/oauth2/v2.0/token"

    diagnosis = _diagnose(_microsoft(microsoft, token_endpoint, test_ca, token_url=url))

    assert "only over https" in _failure(diagnosis, StepName.TOKEN)
    assert token_endpoint.requests == []


# What a refused XOAUTH2 login says once a token was obtained.


def test_exchange_refusing_the_mailbox_names_the_service_principal(
    smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET, mailboxes=["other@example.org"])
    server = smtp_server_factory("starttls", oauth=token_endpoint)

    diagnosis = _diagnose(_microsoft(server, token_endpoint, test_ca))

    assert diagnosis.step(StepName.TOKEN).status == "passed"
    text = _failure(diagnosis, StepName.LOGIN)
    assert "5.7.3" in text
    assert "New-ServicePrincipal" in text
    assert "Add-MailboxPermission" in text


def test_gmail_refusing_the_token_names_the_delegation(
    gmail: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    key = token_endpoint.add_service_account(delegated_users=[MAILBOX])
    token_endpoint.expires_in = -1  # Issued already expired: Gmail refuses it.

    diagnosis = _diagnose(_google(gmail, key, test_ca))

    text = _failure(diagnosis, StepName.LOGIN)
    assert "5.7.8" in text
    assert "delegation" in text


def test_a_server_without_xoauth2(
    smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET)
    server = smtp_server_factory("starttls", auth=True)

    diagnosis = _diagnose(_microsoft(server, token_endpoint, test_ca))

    assert "does not offer the XOAUTH2 login" in _failure(diagnosis, StepName.LOGIN)


def test_no_secret_or_token_reaches_the_steps_or_the_log(
    microsoft: SMTPTestServer,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    good = _diagnose(_microsoft(microsoft, token_endpoint, test_ca))
    wrong = _diagnose(_microsoft(microsoft, token_endpoint, test_ca, client_secret="Zz9~wrong-one"))

    issued = [token.access_token for token in token_endpoint.issued]
    assert issued
    shown = str(good.as_dict()) + str(wrong.as_dict()) + caplog.text
    for secret in [CLIENT_SECRET, "Zz9~wrong-one", *issued]:
        assert secret not in shown
