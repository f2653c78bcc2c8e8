"""The mail log stores a failure in English and shows it in the language of whoever reads it."""

from __future__ import annotations

import ipaddress
import smtplib
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone, translation

from autommate.accounts.models import User
from autommate.delivery import services
from autommate.delivery.attempts import DeliveryAttempt
from autommate.delivery.failures import failure_render
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.mailserver.connection import InvalidCACertificate, ssl_context
from autommate.mailserver.destinations import DestinationRefused, check_destination
from autommate.mailserver.explanations import explain, mail_log_failure
from autommate.mailserver.steps import MailStepError, StepName
from tests.conftest import USER_PASSWORD, point_mail_settings_at
from tests.smtp_server import SENDER_NOT_OWNED, SMTPServerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]


def _queue_notice() -> OutgoingMessage:
    user = User.objects.create_user("mike@example.org", USER_PASSWORD)
    return services.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=user.email,
        user=user,
        context={"changed_at": timezone.now().isoformat(), "client_address": "192.0.2.1"},
    )


def test_a_refused_mail_is_stored_in_english_and_shown_in_the_readers_language(
    forgot_password_on, smtp_server_factory: SMTPServerFactory, run_worker
) -> None:
    server = smtp_server_factory(rcpt_reply=SENDER_NOT_OWNED)
    point_mail_settings_at(server)
    message = _queue_notice()

    with translation.override("de"):
        run_worker()

    message.refresh_from_db()
    [attempt] = DeliveryAttempt.objects.filter(message=message)
    assert message.state == State.FAILED
    assert message.last_error.startswith("Recipient accepted: The server does not let ")
    assert attempt.explanation == message.last_error
    assert "Sender address rejected" in attempt.reply
    with translation.override("de"):
        german = message.last_error_display
        assert attempt.explanation_display == german
        assert attempt.step_display == "Empfänger angenommen"
    with translation.override("tr"):
        turkish = message.last_error_display
    with translation.override("en"):
        assert message.last_error_display == message.last_error
    assert german.startswith("Empfänger angenommen: Der Server erlaubt ")
    assert "Sender address rejected" in german  # The server's reply, as it said it.
    assert turkish.startswith("Alıcı kabul edildi: Sunucu, ")


def _refused_destination() -> BaseException:
    try:
        check_destination("smtp.internal", [ipaddress.ip_address("10.0.0.25")], port=25)
    except DestinationRefused as refused:
        return MailStepError(StepName.CONNECT, refused)
    raise AssertionError("10.0.0.25 was allowed")


def _invalid_ca() -> BaseException:
    try:
        ssl_context("not a certificate")
    except InvalidCACertificate as invalid:
        return MailStepError(StepName.TLS, invalid)
    raise AssertionError("the text was read as a certificate")


# Each made in the worker's language, English, as the worker makes it.
STORED_FAILURES = {
    "timeout": lambda: MailStepError(StepName.MESSAGE, TimeoutError()),
    "refused recipient": lambda: MailStepError(
        StepName.RECIPIENT, smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"5.1.1 No")})
    ),
    "refused destination": _refused_destination,
    "invalid CA certificate": _invalid_ca,
}


@pytest.mark.parametrize("language", ["de", "tr"])
@pytest.mark.parametrize("made", STORED_FAILURES.values(), ids=STORED_FAILURES.keys())
def test_a_stored_failure_reads_as_the_explainer_says_it_in_that_language(
    language: str, made: Callable[[], BaseException]
) -> None:
    with translation.override("en"):
        english = mail_log_failure(made())

    with translation.override(language):
        shown = failure_render(english.words)
        error = made()
        said = explain(error)
        label = said.step.label

    assert shown == f"{label}: {said.cause} {said.fix}"
    assert shown != english.text


def test_giving_up_is_said_in_the_readers_language_too() -> None:
    with translation.override("en"):
        failure = mail_log_failure(MailStepError(StepName.MESSAGE, TimeoutError()))
    words = {
        **failure.words,
        "gave_up": {"msgid": "Gave up after %(attempts)s attempts.", "params": {"attempts": "5"}},
    }

    with translation.override("de"):
        shown = failure_render(words)

    assert shown.endswith("Nach 5 Versuchen aufgegeben.")


def test_a_failed_test_mail_is_logged_in_english_whatever_the_page_language(
    admin_client: Client, smtp_server
) -> None:
    from tests.mailserver.test_settings_page import form_data

    port = smtp_server.port
    smtp_server.stop()

    page = admin_client.post(
        "/settings/mail/test/",
        form_data(smtp_server, port=port, test_recipient="ops@example.org"),
        HTTP_ACCEPT_LANGUAGE="de",
    )

    logged = OutgoingMessage.objects.get(kind=Kind.TEST)
    [attempt] = DeliveryAttempt.objects.filter(message=logged)
    assert page.status_code == 200
    assert logged.last_error.startswith("Connect: No mail server answered at ")
    assert attempt.step == "Connect"
    with translation.override("de"):
        assert logged.last_error_display.startswith("Verbinden: Unter 127.0.0.1, Port ")
        assert attempt.explanation_display == logged.last_error_display


def test_a_fixed_reason_without_words_is_translated_by_its_msgid() -> None:
    message = OutgoingMessage.objects.create(
        kind=Kind.TEST,
        recipient="user@example.net",
        state=State.FAILED,
        last_error="The mail server is not configured.",
    )
    attempt = DeliveryAttempt.objects.create(
        message=message, number=1, outcome="failed", explanation="Something only said in English."
    )

    with translation.override("de"):
        assert message.last_error_display == "Der Mailserver ist nicht konfiguriert."
        assert attempt.explanation_display == "Something only said in English."
