"""Reset mails through the delivery worker, logging in with OAuth 2.0 tokens."""

from __future__ import annotations

import pytest

from autommate.accounts.models import User
from autommate.delivery.models import OutgoingMessage, State
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import encrypt
from autommate.recovery.models import ForgotPasswordSettings
from autommate.recovery.services import reset_request
from tests.oauth_provider import TokenEndpoint
from tests.smtp_server import LocalCA, SMTPServerFactory, SMTPTestServer

MAILBOX = "noreply@example.org"


def _save_google(server: SMTPTestServer, key: str, ca: LocalCA) -> None:
    mail_server = MailServerSettings(
        pk=1,
        host="localhost",
        port=server.port,
        protocol="smtp",
        use_tls=True,
        ca_certificate=ca.pem,
        sender_email=MAILBOX,
        use_auth=True,
        auth_method="google-service-account",
        username=MAILBOX,
        service_account_key_encrypted=encrypt(key),
    )
    mail_server.verified_fingerprint = mail_server.fingerprint()
    mail_server.save()
    ForgotPasswordSettings.objects.create(pk=1, enabled=True, link_lifetime_minutes=60)


@pytest.fixture
def gmail(smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint) -> SMTPTestServer:
    return smtp_server_factory("starttls", oauth=token_endpoint, xoauth2_style="google")


@pytest.mark.django_db
@pytest.mark.usefixtures("limits_off")
def test_reset_mails_travel_over_xoauth2_with_one_token(
    gmail: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA, run_worker
) -> None:
    key = token_endpoint.add_service_account(delegated_users=[MAILBOX])
    _save_google(gmail, key, test_ca)
    addresses = [f"user{n}@example.org" for n in range(5)]
    for address in addresses:
        User.objects.create_user(email=address, password="correct horse battery staple")
        reset_request(address=address, client_address="192.0.2.1")

    run_worker()

    received = gmail.wait_for(5)
    assert sorted(message.rcpt_tos[0] for message in received) == addresses
    assert {message.login for message in received} == {MAILBOX}
    assert token_endpoint.token_requests == 1
    assert set(OutgoingMessage.objects.values_list("state", flat=True)) == {State.SENT}


@pytest.mark.django_db
def test_the_mail_log_names_the_missing_delegation(
    gmail: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA, run_worker
) -> None:
    key = token_endpoint.add_service_account(delegated_users=["someone-else@example.org"])
    token_endpoint.google_users.add(MAILBOX)
    _save_google(gmail, key, test_ca)
    User.objects.create_user(email="ada@example.org", password="correct horse battery staple")
    reset_request(address="ada@example.org", client_address="192.0.2.1")

    run_worker()

    message = OutgoingMessage.objects.get()
    assert message.state in (State.FAILED, State.RETRYING)
    assert "Domain-wide delegation" in message.last_error
    assert "unauthorized_client" in message.last_error
    assert not gmail.messages
