"""The conversation against a server that behaves as Postfix with postgrey does.

International addresses (punycode, SMTPUTF8), refusals that Postfix reports at RCPT although
their cause is the greeting or the sender, its size limit, greylisting, and the EHLO name.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest
from django.core.mail import EmailMessage as DjangoEmailMessage

from autommate.accounts.models import User
from autommate.mailserver.backend import MailServerBackend
from autommate.mailserver.connection import AddressNeedsSMTPUTF8, default_ehlo_name
from autommate.mailserver.diagnosis import diagnose
from autommate.mailserver.explanations import GREYLIST_DELAY_SECONDS, mail_log_failure
from autommate.mailserver.services import mail_server_test
from autommate.mailserver.steps import Diagnosis, StepName
from autommate.recovery.services import reset_request
from tests.conftest import point_mail_settings_at
from tests.smtp_server import (
    SENDER_NOT_OWNED,
    SMTPServerFactory,
    SMTPTestServer,
)

SENDER = "autommate@example.org"
IDN_RECIPIENT = "ayse@örnek.test"
IDN_RECIPIENT_ASCII = "ayse@xn--rnek-4qa.test"
UTF8_RECIPIENT = "ayşe@örnek.test"


def _message(recipient: str) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["Subject"] = "Test mail from Autom Mate"
    message.set_content("If you can read this, the mail server settings work.")
    del recipient  # The envelope decides where it goes; the header is not under test here.
    return message.as_bytes(policy=SMTP_POLICY)


def _diagnose(server: SMTPTestServer, recipient: str = "ada@example.org", **config) -> Diagnosis:
    return diagnose(
        server.config(**config),
        sender=SENDER,
        recipient=recipient,
        message=_message(recipient),
        deadline_seconds=5.0,
    )


def _failed(diagnosis: Diagnosis, step: StepName):
    failure = diagnosis.failure
    assert failure is not None, diagnosis.as_dict()
    assert failure.name == step, diagnosis.as_dict()
    return failure


def test_test_mail_to_an_internationalized_domain_goes_out_in_punycode(
    smtp_server: SMTPTestServer,
) -> None:
    diagnosis = _diagnose(smtp_server, IDN_RECIPIENT)

    assert diagnosis.ok, diagnosis.as_dict()
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == [IDN_RECIPIENT_ASCII]
    assert not received.smtputf8


def test_real_mail_to_an_internationalized_domain_goes_out_in_punycode(
    smtp_server: SMTPTestServer,
) -> None:
    backend = MailServerBackend(config=smtp_server.config())
    sent = backend.send_messages(
        [DjangoEmailMessage("Reset", "Body", f"Autom Mate <{SENDER}>", [IDN_RECIPIENT])]
    )

    assert sent == 1
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == [IDN_RECIPIENT_ASCII]


def test_non_ascii_local_part_uses_smtputf8_where_offered(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(smtputf8=True)

    diagnosis = _diagnose(server, UTF8_RECIPIENT)

    assert diagnosis.ok, diagnosis.as_dict()
    [received] = server.wait_for(1)
    assert received.smtputf8
    assert received.rcpt_tos == ["ayşe@xn--rnek-4qa.test"]


def test_smtputf8_is_asked_for_only_by_the_mail_that_needs_it(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(smtputf8=True)
    backend = MailServerBackend(config=server.config())

    sent = backend.send_messages(
        [
            DjangoEmailMessage("One", "Body", SENDER, [UTF8_RECIPIENT]),
            DjangoEmailMessage("Two", "Body", SENDER, ["ada@example.org"]),
        ]
    )

    assert sent == 2
    first, second = server.wait_for(2)
    assert first.smtputf8
    assert not second.smtputf8


def test_non_ascii_local_part_is_refused_clearly_without_smtputf8(
    smtp_server: SMTPTestServer,
) -> None:
    diagnosis = _diagnose(smtp_server, UTF8_RECIPIENT)

    failure = _failed(diagnosis, StepName.RECIPIENT)
    assert "SMTPUTF8" in failure.cause
    assert UTF8_RECIPIENT in failure.cause
    assert "unexpected" not in failure.cause.lower()
    assert "ASCII" in failure.fix
    assert not diagnosis.temporary
    # Refused before it was said: the server was never given the address.
    assert "RCPT" not in smtp_server.commands
    assert smtp_server.messages == []


def test_real_mail_with_non_ascii_local_part_fails_permanently_in_words(
    smtp_server: SMTPTestServer,
) -> None:
    backend = MailServerBackend(config=smtp_server.config())

    with pytest.raises(AddressNeedsSMTPUTF8) as raised:
        backend.send_messages([DjangoEmailMessage("Reset", "Body", SENDER, [UTF8_RECIPIENT])])

    failure = mail_log_failure(raised.value)
    assert not failure.temporary
    assert failure.step == "Recipient accepted"
    assert "SMTPUTF8" in failure.text


def test_sender_not_owned_by_the_login_is_not_blamed_on_the_recipient(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(auth=True, rcpt_reply=SENDER_NOT_OWNED)

    diagnosis = _diagnose(server)

    failure = _failed(diagnosis, StepName.RECIPIENT)
    assert "553 5.7.1" in failure.detail
    assert "send as the sender email" in failure.cause
    assert "login mailer" in failure.cause
    assert "typing mistakes" not in failure.fix
    assert "Sender email" in failure.fix


def test_refused_greeting_name_is_named_and_the_ehlo_name_fixes_it(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(require_fqdn_helo=True)

    refused = _diagnose(server, ehlo_name="localhost")

    failure = _failed(refused, StepName.RECIPIENT)
    assert "504 5.5.2 <localhost>" in failure.detail
    assert "greeted it with, localhost" in failure.cause
    assert "EHLO name" in failure.fix
    assert "typing mistakes" not in failure.fix

    accepted = _diagnose(server, ehlo_name="autommate.example.org")

    assert accepted.ok, accepted.as_dict()
    assert "Greeted as autommate.example.org" in accepted.step(StepName.GREETING).detail
    assert server.greeting_names[-1] == "autommate.example.org"


def test_greeting_name_defaults_to_the_host_of_the_base_url(
    smtp_server: SMTPTestServer, settings
) -> None:
    settings.BASE_URL = "https://autommate.example.org"

    diagnosis = _diagnose(smtp_server)

    assert diagnosis.ok
    assert smtp_server.greeting_names == ["autommate.example.org"]
    assert "Greeted as autommate.example.org" in diagnosis.step(StepName.GREETING).detail


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8000", "[127.0.0.1]"),
        ("http://[2001:db8::1]:8000", "[IPv6:2001:db8::1]"),
        ("https://örnek.test", "xn--rnek-4qa.test"),
        ("https://Mail.Example.org/autommate", "mail.example.org"),
    ],
)
def test_default_ehlo_name_is_a_name_or_an_address_literal(
    base_url: str, expected: str, settings
) -> None:
    settings.BASE_URL = base_url

    assert default_ehlo_name() == expected


def test_mail_over_the_size_limit_is_named_too_large(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(max_size=100)

    diagnosis = _diagnose(server)

    failure = diagnosis.failure
    assert failure is not None
    assert "552 5.3.4" in failure.detail
    assert "size limit" in failure.cause
    assert not diagnosis.temporary


def test_greylisting_is_temporary_and_retried_after_its_delay(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(greylist_seconds=GREYLIST_DELAY_SECONDS)
    backend = MailServerBackend(config=server.config())

    with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
        backend.send_messages([DjangoEmailMessage("Reset", "Body", SENDER, ["ada@example.org"])])

    failure = mail_log_failure(raised.value)
    assert failure.temporary
    assert failure.step == "Recipient accepted"
    assert failure.reply.startswith("ada@example.org: 450 4.7.1")
    assert "greylists" in failure.text
    # The server's own delay; delivery adds its spread (tests/delivery/test_failures.py).
    assert failure.retry_after_seconds == GREYLIST_DELAY_SECONDS


def test_greylisted_test_mail_says_to_send_again_later(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(greylist_seconds=GREYLIST_DELAY_SECONDS)

    diagnosis = _diagnose(server)

    failure = _failed(diagnosis, StepName.RECIPIENT)
    assert diagnosis.temporary
    assert "greylists" in failure.cause
    assert "5 minutes" in failure.fix


def _header_line(raw: bytes, name: bytes) -> bytes:
    headers = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ")
    [line] = [line for line in headers.split(b"\r\n") if line.lower().startswith(name + b":")]
    return line


@pytest.mark.django_db
def test_test_mail_to_a_non_ascii_local_part_carries_it_in_utf8_headers(
    smtp_server_factory: SMTPServerFactory, admin_user
) -> None:
    server = smtp_server_factory(smtputf8=True)
    values = {
        "host": server.host,
        "port": server.port,
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
    }

    result = mail_server_test(values=values, recipient=UTF8_RECIPIENT, actor=admin_user)

    assert result.diagnosis.ok, result.diagnosis.as_dict()
    [received] = server.wait_for(1)
    assert received.smtputf8
    assert received.rcpt_tos == ["ayşe@xn--rnek-4qa.test"]
    # RFC 6532: the address as it is, in UTF-8; never an encoded word in the local part.
    assert _header_line(received.raw, b"to") == "To: ayşe@örnek.test".encode()
    assert b"=?" not in _header_line(received.raw, b"to")
    parsed = email.message_from_string(received.raw.decode(), policy=email.policy.default)
    assert parsed["To"].addresses[0].username == "ayşe"
    assert parsed["To"].addresses[0].domain == "örnek.test"


@pytest.mark.django_db
def test_reset_mail_to_a_non_ascii_local_part_carries_it_in_utf8_headers(
    smtp_server_factory: SMTPServerFactory, forgot_password_on, run_worker
) -> None:
    server = smtp_server_factory(smtputf8=True)
    point_mail_settings_at(server)
    User.objects.create_user(UTF8_RECIPIENT, "a long enough passphrase here")

    reset_request(address=UTF8_RECIPIENT, client_address="192.0.2.1")
    run_worker()

    [received] = server.wait_for(1)
    assert received.smtputf8
    assert _header_line(received.raw, b"to") == "To: ayşe@örnek.test".encode()
    assert "Reset" in received["Subject"]


def test_mail_to_an_ascii_local_part_keeps_ascii_headers(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(smtputf8=True)
    backend = MailServerBackend(config=server.config())

    backend.send_messages([DjangoEmailMessage("Reset", "Body", SENDER, [IDN_RECIPIENT])])

    [received] = server.wait_for(1)
    assert not received.smtputf8
    assert received.raw.isascii()
    assert _header_line(received.raw, b"to") == f"To: {IDN_RECIPIENT_ASCII}".encode()


@pytest.mark.django_db
def test_test_mail_to_a_non_ascii_local_part_is_refused_clearly_without_smtputf8(
    smtp_server: SMTPTestServer, admin_user
) -> None:
    values = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
    }

    result = mail_server_test(values=values, recipient=UTF8_RECIPIENT, actor=admin_user)

    failure = _failed(result.diagnosis, StepName.RECIPIENT)
    assert "does not offer SMTPUTF8" in failure.cause
    assert "unexpected" not in failure.cause.lower()
    assert smtp_server.messages == []
