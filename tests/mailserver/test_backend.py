from __future__ import annotations

import smtplib
import ssl

import pytest
from django.core.mail import EmailMessage, mailers

from autommate.mailserver.backend import MailServerBackend, MailServerNotConfigured
from autommate.mailserver.connection import InvalidCACertificate, NotAMailServer, ssl_context
from autommate.mailserver.destinations import DestinationRefused
from autommate.mailserver.explanations import explain
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.steps import StepName
from tests.smtp_server import LocalCA, SMTPServerFactory, SMTPTestServer

SENDER = "Autom Mate <autommate@example.org>"


def _email(number: int = 1, to: str = "ada@example.org") -> EmailMessage:
    return EmailMessage(
        subject=f"Message {number}",
        body="Hello from the delivery queue.",
        from_email=SENDER,
        to=[to],
    )


@pytest.mark.django_db
def test_default_mailer_sends_through_the_saved_settings(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("plain", auth=True)
    server.save_settings(host="127.0.0.1")

    sent = mailers.default.send_messages([_email()])

    assert sent == 1
    [received] = server.wait_for(1)
    assert received["Subject"] == "Message 1"
    assert received.mail_from == "autommate@example.org"
    assert received.rcpt_tos == ["ada@example.org"]
    assert received.login == "mailer"


@pytest.mark.django_db
def test_message_send_using_the_default_mailer(smtp_server: SMTPTestServer) -> None:
    smtp_server.save_settings()

    assert _email().send(using="default") == 1
    smtp_server.wait_for(1)


@pytest.mark.django_db
def test_one_backend_sends_several_messages_over_one_connection(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("starttls", auth=True)
    server.save_settings()

    with mailers.default as backend:
        assert backend.send_messages([_email(1)]) == 1
        assert backend.send_messages([_email(2), _email(3)]) == 2

    received = server.wait_for(3)
    assert [message["Subject"] for message in received] == ["Message 1", "Message 2", "Message 3"]
    assert len({message.peer for message in received}) == 1
    assert server.commands.count("STARTTLS") == 1
    assert server.commands.count("AUTH") == 1
    assert server.commands[-1] == "QUIT"


@pytest.mark.django_db
def test_each_mailer_reads_the_settings_as_saved_now(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    first = smtp_server_factory()
    second = smtp_server_factory()
    first.save_settings()
    mailers.default.send_messages([_email(1)])

    second.save_settings()
    mailers.default.send_messages([_email(2)])

    assert [message["Subject"] for message in first.wait_for(1)] == ["Message 1"]
    assert [message["Subject"] for message in second.wait_for(1)] == ["Message 2"]


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_server_with_a_private_ca_is_trusted_through_the_ca_certificate(
    smtp_server_factory: SMTPServerFactory, test_ca: LocalCA, mode
) -> None:
    server = smtp_server_factory(mode, auth=True)
    saved = server.save_settings(ca_certificate=test_ca.pem)
    assert saved.protocol == ("smtps" if mode == "tls" else "smtp")

    assert mailers.default.send_messages([_email()]) == 1
    assert server.wait_for(1)[0].login == "mailer"


@pytest.mark.django_db
def test_server_with_a_private_ca_is_refused_without_the_ca_certificate(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("starttls", auth=True)
    server.save_settings(ca_certificate="")

    with pytest.raises(ssl.SSLCertVerificationError) as raised:
        mailers.default.send_messages([_email()])

    explanation = explain(raised.value)
    assert explanation.step == StepName.TLS
    assert not explanation.temporary
    assert "AUTH" not in server.commands
    assert server.messages == []


@pytest.mark.django_db
def test_enable_tls_without_starttls_sends_no_login_and_no_message(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("plain", auth=True)
    server.save_settings(use_tls=True)

    with pytest.raises(smtplib.SMTPNotSupportedError) as raised:
        mailers.default.send_messages([_email()])

    assert explain(raised.value).step == StepName.TLS
    assert server.logins == []
    assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(server.commands)
    assert server.messages == []


@pytest.mark.django_db
def test_login_happens_only_with_use_authentication(smtp_server: SMTPTestServer) -> None:
    smtp_server.save_settings(use_auth=False, username="mailer", password="unused-password")

    assert mailers.default.send_messages([_email()]) == 1
    assert "AUTH" not in smtp_server.commands
    smtp_server.wait_for(1)


@pytest.mark.django_db
def test_wrong_password_is_explained_as_a_rejected_login(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("plain", auth=True)
    server.save_settings(password="wrong-password")

    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        mailers.default.send_messages([_email()])

    explanation = explain(raised.value)
    assert explanation.step == StepName.LOGIN
    assert not explanation.temporary


@pytest.mark.django_db
def test_temporary_refusal_is_explained_as_temporary(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(temporary_failures=1)
    server.save_settings()

    with pytest.raises(smtplib.SMTPDataError) as raised:
        mailers.default.send_messages([_email()])

    explanation = explain(raised.value)
    assert explanation.step == StepName.MESSAGE
    assert explanation.temporary
    assert mailers.default.send_messages([_email()]) == 1


@pytest.mark.django_db
def test_closed_port_is_explained_as_a_temporary_connection_failure(
    smtp_server: SMTPTestServer, closed_port: int
) -> None:
    smtp_server.save_settings(port=closed_port)

    # A connection error, as Django's backend raises, that keeps what refused it to itself.
    with pytest.raises(NotAMailServer) as raised:
        mailers.default.send_messages([_email()])

    assert isinstance(raised.value, ConnectionError)
    explanation = explain(raised.value)
    assert explanation.step == StepName.CONNECT
    assert explanation.temporary
    assert "No mail server answered" in explanation.cause


@pytest.mark.django_db
def test_backend_reconnects_after_the_server_restarts(smtp_server: SMTPTestServer) -> None:
    smtp_server.save_settings()
    port = smtp_server.port
    backend = mailers.default
    backend.open()
    backend.send_messages([_email(1)])

    smtp_server.stop()
    smtp_server.start()
    with pytest.raises(smtplib.SMTPServerDisconnected) as raised:
        backend.send_messages([_email(2)])
    assert explain(raised.value).temporary
    sent = backend.send_messages([_email(3)])
    backend.close()

    assert smtp_server.port == port
    assert sent == 1
    assert [message["Subject"] for message in smtp_server.wait_for(2)] == [
        "Message 1",
        "Message 3",
    ]


@pytest.mark.django_db
def test_link_local_server_is_refused_before_connecting() -> None:
    MailServerSettings.objects.create(
        pk=1, host="169.254.169.254", port=25, use_tls=False, sender_email="a@example.org"
    )

    with pytest.raises(DestinationRefused) as raised:
        mailers.default.send_messages([_email()])

    assert "link-local" in str(raised.value)
    explanation = explain(raised.value)
    assert explanation.step == StepName.CONNECT
    assert not explanation.temporary


@pytest.mark.django_db
def test_server_outside_allowed_destinations_is_refused(
    smtp_server: SMTPTestServer, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "192.0.2.0/24"
    smtp_server.save_settings()

    with pytest.raises(DestinationRefused):
        mailers.default.send_messages([_email()])

    assert smtp_server.commands == []


@pytest.mark.django_db
def test_smtps_with_starttls_is_refused(smtp_server_factory: SMTPServerFactory) -> None:
    server = smtp_server_factory("tls")
    server.save_settings(protocol="smtps", use_tls=True)

    with pytest.raises(ValueError, match="exclude each other") as raised:
        mailers.default.send_messages([_email()])

    assert explain(raised.value).step == StepName.TLS
    assert server.commands == []


@pytest.mark.django_db
def test_unsaved_mail_server_is_reported_as_not_configured() -> None:
    with pytest.raises(MailServerNotConfigured, match="No mail server is configured"):
        _ = mailers.default


@pytest.mark.django_db
def test_mail_server_without_sender_is_reported_as_not_configured() -> None:
    MailServerSettings.objects.create(pk=1, host="smtp.example.org", sender_email="")

    with pytest.raises(MailServerNotConfigured):
        _ = mailers.default


def test_explicit_config_sends_without_saved_settings(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("tls", auth=True)

    with MailServerBackend(config=server.config()) as backend:
        assert backend.send_messages([_email()]) == 1

    assert server.wait_for(1)[0].login == "mailer"


def test_backend_never_shows_the_password(smtp_server: SMTPTestServer) -> None:
    backend = MailServerBackend(config=smtp_server.config(use_auth=True, password="hidden-pass"))

    assert "hidden-pass" not in repr(backend)
    assert "hidden-pass" not in repr(backend.config)


def test_ssl_context_always_verifies_and_needs_tls_1_2(test_ca: LocalCA) -> None:
    for context in (ssl_context(""), ssl_context(test_ca.pem)):
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    system_count = len(ssl_context("").get_ca_certs())
    assert len(ssl_context(test_ca.pem).get_ca_certs()) == system_count + 1


@pytest.mark.parametrize(
    "pem",
    [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    ],
)
def test_unreadable_ca_certificate_is_reported_as_invalid(pem: str) -> None:
    with pytest.raises(InvalidCACertificate):
        ssl_context(pem)
