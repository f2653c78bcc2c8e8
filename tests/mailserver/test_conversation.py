from __future__ import annotations

import email.policy as email_policy
import re
import smtplib
from contextlib import AbstractContextManager

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from autommate.mailserver import conversation
from autommate.mailserver.backend import MailServerBackend
from autommate.mailserver.diagnosis import diagnose
from autommate.mailserver.explanations import explain
from autommate.mailserver.steps import MailStepError, StepName, at_step, step_of
from tests.smtp_server import SMTPServerFactory

SENDER = "autommate@example.org"
RECIPIENT = "ada@example.org"


def _email() -> EmailMessage:
    return EmailMessage(subject="Hello", body="Hello.", from_email=SENDER, to=[RECIPIENT])


@pytest.fixture
def steps_taken(monkeypatch: pytest.MonkeyPatch) -> list[StepName]:
    """Note every step the conversation enters, whoever holds it."""
    taken: list[StepName] = []
    original = conversation._step

    def noting(step: StepName) -> AbstractContextManager[None]:
        taken.append(step)
        return original(step)

    monkeypatch.setattr(conversation, "_step", noting)
    return taken


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_test_mail_and_real_mail_take_the_same_steps(
    smtp_server_factory: SMTPServerFactory, steps_taken: list[StepName], mode
) -> None:
    server = smtp_server_factory(mode, auth=True)
    config = server.config()

    with MailServerBackend(config=config) as backend:
        assert backend.send_messages([_email()]) == 1
    real_mail = list(steps_taken)
    steps_taken.clear()
    diagnosis = diagnose(
        config, sender=SENDER, recipient=RECIPIENT, message=_email().message().as_bytes()
    )

    assert diagnosis.ok, diagnosis.as_dict()
    assert steps_taken == real_mail
    assert list(dict.fromkeys(real_mail)) == conversation.steps_in_order(config)
    assert len(server.wait_for(2)) == 2


def test_mail_step_error_carries_the_step_and_the_original_error() -> None:
    with pytest.raises(MailStepError) as raised, conversation._step(StepName.MESSAGE):
        raise TimeoutError("timed out")

    failure = raised.value
    assert failure.step == StepName.MESSAGE
    assert isinstance(failure.error, TimeoutError)
    assert failure.__cause__ is failure.error
    assert step_of(failure) == StepName.MESSAGE
    # On its own, a timeout would be taken for a failure to connect.
    assert explain(failure.error).step == StepName.CONNECT
    explanation = explain(failure)
    assert explanation.step == StepName.MESSAGE
    assert "did not answer in time while the message was sent" in explanation.cause


def test_original_error_keeps_its_context_and_names_its_step() -> None:
    disconnected = smtplib.SMTPServerDisconnected("Connection unexpectedly closed: timed out")
    # smtplib reports a timeout as a disconnection raised while handling the TimeoutError.
    disconnected.__context__ = TimeoutError("timed out")
    failure = MailStepError(StepName.GREETING, disconnected)

    def raise_while_handling_another_error() -> None:
        try:
            raise ValueError("something else being handled")
        except ValueError:
            failure.raise_original()

    with pytest.raises(smtplib.SMTPServerDisconnected) as raised:
        raise_while_handling_another_error()

    assert raised.value is disconnected
    assert disconnected.__cause__ is failure
    assert isinstance(disconnected.__context__, TimeoutError)
    assert failure.__cause__ is None  # No cycle in the chain.
    assert step_of(disconnected) == StepName.GREETING
    assert "greeted but did not answer EHLO in time" in explain(disconnected).cause


def test_nested_steps_keep_the_innermost_step() -> None:
    with (
        pytest.raises(ConnectionResetError) as raised,
        at_step(StepName.LOGIN),
        at_step(StepName.SENDER),
    ):
        raise ConnectionResetError(104, "Connection reset by peer")

    assert step_of(raised.value) == StepName.SENDER


def test_backend_raises_the_library_error_naming_its_step(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("plain", auth=True)
    backend = MailServerBackend(config=server.config(password="wrong-password"))

    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        backend.send_messages([_email()])

    cause = raised.value.__cause__
    assert isinstance(cause, MailStepError)
    assert cause.step == StepName.LOGIN
    assert cause.error is raised.value


def test_backend_fails_silently_when_asked(smtp_server_factory: SMTPServerFactory) -> None:
    server = smtp_server_factory("plain", auth=True)
    backend = MailServerBackend(config=server.config(password="wrong-password"))
    backend.fail_silently = True

    assert backend.send_messages([_email()]) == 0
    assert server.messages == []


def _boundaries_named(message: bytes) -> bytes:
    for boundary in set(re.findall(rb'boundary="([^"]+)"', message)):
        message = message.replace(boundary, b"BOUNDARY")
    return message


@pytest.mark.parametrize(
    ("sender", "recipient", "subject"),
    [
        ("Autom Mate <noreply@example.org>", "ada@example.org", "Reset your Autom Mate password"),
        ('"Müller, Hans" <noreply@exämple.org>', "ayşe@example.org", "Şifrenizi sıfırlayın " * 6),
        ("Autom Mate <noreply@example.org>", "İsmail <ismail@example.org>", "Passwort " * 12),
        ("noreply@example.org", '"Body, Some" <some@example.org>', "x"),
    ],
)
def test_header_policy_writes_the_bytes_the_standard_library_writes(
    sender: str, recipient: str, subject: str
) -> None:
    """Headers parsed and folded once are reused: every message must come out unchanged."""
    for attempt in range(3):  # The second and third find the headers of the first.
        email = EmailMultiAlternatives(
            subject=subject,
            body="Hallo ä\n" + "a long line " * 20,
            from_email=sender,
            to=[recipient],
            headers={
                "Message-ID": f"<{attempt}@example.org>",
                "Date": "Sun, 06 Dec 2026 23:25:18 +0000",
                "Auto-Submitted": "auto-generated",
                "Content-Language": "de",
            },
        )
        email.attach_alternative("<p>" + "ü" * 100 + "</p>", "text/html")
        policy = conversation.header_policy(sender, recipient)
        standard = email_policy.SMTPUTF8 if policy.utf8 else email_policy.SMTP

        ours = email.message(policy=policy).as_bytes()

        assert _boundaries_named(ours) == _boundaries_named(
            email.message(policy=standard).as_bytes()
        )
