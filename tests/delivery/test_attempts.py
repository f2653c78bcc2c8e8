"""Every delivery attempt is kept, with its time, step and reply; greylisting is waited out."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.delivery import services
from autommate.delivery.attempts import DeliveryAttempt, Outcome
from autommate.delivery.failures import SERVER_DELAY_SPREAD_SECONDS
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.mailserver.explanations import GREYLIST_DELAY_SECONDS
from tests.conftest import USER_PASSWORD, point_mail_settings_at
from tests.delivery.test_queue import make_retries_due
from tests.smtp_server import SENDER_NOT_OWNED, SMTPServerFactory, SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]


def _queue_notice() -> OutgoingMessage:
    user = User.objects.create_user("mike@example.org", USER_PASSWORD)
    return services.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=user.email,
        user=user,
        context={"changed_at": timezone.now().isoformat(), "client_address": "192.0.2.1"},
    )


def _history(message: OutgoingMessage) -> list[DeliveryAttempt]:
    return list(DeliveryAttempt.objects.filter(message=message).order_by("number"))


def test_a_retried_mail_keeps_the_history_of_its_attempts_once_sent(
    forgot_password_on, smtp_server: SMTPTestServer, run_worker
) -> None:
    smtp_server.temporary_failures = 2
    message = _queue_notice()

    run_worker()
    make_retries_due()
    run_worker()
    make_retries_due()
    run_worker()

    smtp_server.wait_for(1)
    message.refresh_from_db()
    assert message.state == State.SENT
    assert message.last_error == ""
    first, second, third = _history(message)
    assert [a.number for a in (first, second, third)] == [1, 2, 3]
    assert [a.outcome for a in (first, second, third)] == [
        Outcome.RETRYING,
        Outcome.RETRYING,
        Outcome.SENT,
    ]
    for failed in (first, second):
        assert failed.step == "Message accepted"
        assert failed.reply.startswith("451 4.3.0")
        assert failed.explanation.startswith("Message accepted: ")
        assert failed.next_attempt_at is not None
    assert first.at <= second.at <= third.at
    assert third.reply.startswith("Accepted: <")
    assert third.step == ""


def test_a_permanent_refusal_names_the_step_and_keeps_the_reply(
    forgot_password_on, smtp_server_factory: SMTPServerFactory, run_worker
) -> None:
    server = smtp_server_factory(rcpt_reply=SENDER_NOT_OWNED)
    point_mail_settings_at(server)
    message = _queue_notice()

    run_worker()

    message.refresh_from_db()
    assert message.state == State.FAILED
    assert message.last_error.startswith("Recipient accepted: ")
    assert "typing mistakes" not in message.last_error
    [attempt] = _history(message)
    assert attempt.outcome == Outcome.FAILED
    assert attempt.step == "Recipient accepted"
    assert "553 5.7.1" in attempt.reply
    assert "Sender address rejected" in attempt.reply


def test_greylisted_mail_is_tried_again_just_after_the_greylisting_delay(
    forgot_password_on, smtp_server_factory: SMTPServerFactory, run_worker
) -> None:
    server = smtp_server_factory(greylist_seconds=GREYLIST_DELAY_SECONDS)
    point_mail_settings_at(server)
    message = _queue_notice()

    before = timezone.now()
    run_worker()
    after = timezone.now()

    message.refresh_from_db()
    assert message.state == State.RETRYING
    assert message.next_attempt_at is not None
    # Just after the server's delay, within the spread that keeps retries apart.
    assert message.next_attempt_at >= before + timedelta(seconds=GREYLIST_DELAY_SECONDS)
    assert message.next_attempt_at <= after + timedelta(
        seconds=GREYLIST_DELAY_SECONDS + SERVER_DELAY_SPREAD_SECONDS
    )
    [attempt] = _history(message)
    assert "450 4.7.1" in attempt.reply
    assert "Greylisted" in attempt.reply

    # The delay has passed for the server too: the retry goes through.
    server.greylist_seconds = 0.001
    make_retries_due()
    run_worker()

    server.wait_for(1)
    message.refresh_from_db()
    assert message.state == State.SENT
    assert [a.outcome for a in _history(message)] == [Outcome.RETRYING, Outcome.SENT]


def test_mail_log_page_shows_the_attempts(
    admin_client: Client, forgot_password_on, smtp_server: SMTPTestServer, run_worker
) -> None:
    smtp_server.temporary_failures = 1
    _queue_notice()
    run_worker()
    make_retries_due()
    run_worker()

    page = admin_client.get("/settings/mail/log/")

    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert "Attempts (2)" in text
    assert "Failed for now at Message accepted" in text
    assert "451 4.3.0" in text


def test_test_mail_attempt_keeps_its_step_and_reply(
    admin_client: Client, smtp_server_factory: SMTPServerFactory
) -> None:
    server = smtp_server_factory(rcpt_reply=SENDER_NOT_OWNED)
    server.save_settings()

    admin_client.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})

    message = OutgoingMessage.objects.get(kind=Kind.TEST)
    [attempt] = _history(message)
    assert attempt.outcome == Outcome.FAILED
    assert attempt.step == "Recipient accepted"
    assert "553 5.7.1" in attempt.reply
