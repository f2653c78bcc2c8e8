"""The delivery queue against a real SMTP server: retries, permanent failures, expired links."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest
from django.db import OperationalError
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from autommate.accounts.models import User
from autommate.delivery import services
from autommate.delivery.attempts import Outcome as AttemptOutcome
from autommate.delivery.models import (
    DeliveryAttempt,
    Kind,
    OutgoingMessage,
    Priority,
    SendingPause,
    State,
    priority_of,
)
from autommate.delivery.senders import Outcome
from autommate.mailserver.models import MailServerSettings
from autommate.recovery.models import ResetLink, ResetRequest
from autommate.recovery.services import reset_request, reset_request_process
from tests.conftest import USER_PASSWORD, point_mail_settings_at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]


def make_retries_due() -> None:
    """Let the retry delays pass: move every scheduled attempt and task into the past."""
    past = timezone.now() - timedelta(seconds=1)
    OutgoingMessage.objects.filter(state=State.RETRYING).update(next_attempt_at=past)
    DBTaskResult.objects.filter(run_after__gt=past).update(run_after=past)


def users(count: int) -> list[User]:
    return [
        User.objects.create_user(f"user{number}@example.org", USER_PASSWORD)
        for number in range(count)
    ]


def queue_password_changed_notice(user: User) -> OutgoingMessage:
    return services.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=user.email,
        user=user,
        context={"changed_at": timezone.now().isoformat(), "client_address": "192.0.2.1"},
    )


def connections_to(server) -> int:
    return sum(verb in {"EHLO", "HELO"} for verb in server.commands)


def test_mail_waits_while_the_server_is_down_and_arrives_once_it_is_back(
    client, forgot_password_on, smtp_server, run_worker
) -> None:
    people = users(3)
    smtp_server.stop()
    for person in people:
        client.post("/forgot-password/", {"email": person.email})

    run_worker()

    waiting = list(OutgoingMessage.objects.filter(kind=Kind.RESET))
    assert len(waiting) == 3
    now = timezone.now()
    for message in waiting:
        assert message.state == State.RETRYING
        assert message.attempts == 1
        assert message.next_attempt_at is not None
        assert message.next_attempt_at > now
        # Plain words for an administrator, not a traceback or an errno.
        assert "mail server" in message.last_error.lower()
        assert "Errno" not in message.last_error
        assert "Traceback" not in message.last_error

    smtp_server.start()
    make_retries_due()
    run_worker()

    received = smtp_server.wait_for(3)
    assert sorted(m["To"] for m in received) == sorted(p.email for p in people)
    assert set(OutgoingMessage.objects.values_list("state", flat=True)) == {State.SENT}
    assert set(OutgoingMessage.objects.values_list("last_error", flat=True)) == {""}


def test_retries_back_off_exponentially_with_jitter(
    forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    queue_password_changed_notice(regular_user)
    smtp_server.stop()
    delays = []
    for _ in range(3):
        before = timezone.now()
        run_worker()
        message = OutgoingMessage.objects.get()
        assert message.state == State.RETRYING
        assert message.next_attempt_at is not None
        delays.append((message.next_attempt_at - before).total_seconds())
        make_retries_due()

    base = services.RETRY_BASE_SECONDS
    for attempt, delay in enumerate(delays):
        expected = base * 2**attempt
        assert expected * 0.75 - 1 <= delay <= expected * 1.25 + 1, (attempt, delays)
    assert OutgoingMessage.objects.get().attempts == 3


def test_temporary_rejection_is_retried_and_then_delivered(
    forgot_password_on, regular_user, smtp_server_factory, run_worker
) -> None:
    server = smtp_server_factory(temporary_failures=1)
    point_mail_settings_at(server)
    queue_password_changed_notice(regular_user)

    run_worker()

    message = OutgoingMessage.objects.get()
    assert message.state == State.RETRYING
    assert "451" in message.last_error
    assert "for now" in message.last_error
    assert server.messages == []

    make_retries_due()
    run_worker()

    (received,) = server.wait_for(1)
    assert received["To"] == regular_user.email
    message.refresh_from_db()
    assert (message.state, message.attempts, message.last_error) == (State.SENT, 2, "")
    assert message.sent_at is not None
    assert message.next_attempt_at is None


def test_rejected_recipient_fails_at_once_and_shows_in_the_mail_log(
    client, admin_client, forgot_password_on, smtp_server_factory, run_worker
) -> None:
    server = smtp_server_factory(reject_recipients={"gone@example.org"})
    point_mail_settings_at(server)
    gone = User.objects.create_user("gone@example.org", USER_PASSWORD)
    client.post("/forgot-password/", {"email": gone.email})

    run_worker()

    message = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert message.state == State.FAILED
    assert message.attempts == 1
    assert message.next_attempt_at is None
    assert "refused the recipient gone@example.org" in message.last_error
    assert "550" in message.last_error
    assert server.messages == []
    # Nothing is left scheduled for it.
    make_retries_due()
    run_worker()
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.FAILED, 1)

    page = admin_client.get("/settings/mail/log/")
    assert page.status_code == HTTPStatus.OK
    body = page.content.decode()
    assert "gone@example.org" in body
    assert "refused the recipient gone@example.org" in body
    assert "Failed" in body


def test_retrying_stops_with_the_reason_once_the_retry_window_has_passed(
    settings, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    settings.DELIVERY_RETRY_HOURS = 24
    message = queue_password_changed_notice(regular_user)
    OutgoingMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(hours=24)
    )
    smtp_server.stop()

    run_worker()

    message.refresh_from_db()
    assert message.state == State.FAILED
    assert message.next_attempt_at is None
    assert "Gave up after 1 attempts" in message.last_error


def test_reset_mail_whose_link_expired_before_sending_is_not_sent(
    forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    lifetime = forgot_password_on.link_lifetime_minutes
    requested_at = timezone.now() - timedelta(minutes=lifetime, seconds=1)
    services.message_record(
        kind=Kind.RESET,
        recipient=regular_user.email,
        user=regular_user,
        context={"requested_at": requested_at.isoformat()},
    )

    run_worker()

    message = OutgoingMessage.objects.get()
    assert message.state == State.FAILED
    assert "expired before the mail could be sent" in message.last_error
    assert message.next_attempt_at is None
    assert not ResetLink.objects.exists()
    assert smtp_server.messages == []


def test_one_connection_serves_a_batch(
    settings, forgot_password_on, smtp_server, run_worker
) -> None:
    settings.DELIVERY_CONNECTIONS = 1
    for person in users(5):
        queue_password_changed_notice(person)

    run_worker()

    assert len(smtp_server.wait_for(5)) == 5
    assert connections_to(smtp_server) == 1
    assert smtp_server.commands.count("MAIL") == 5


def test_a_worker_sends_on_its_connections_at_once_and_reuses_each(
    settings, forgot_password_on, smtp_server_factory, run_worker
) -> None:
    """Four connections to a slow server: each carries several mails, and they overlap in time."""
    settings.DELIVERY_CONNECTIONS = 4
    server = smtp_server_factory(delay_seconds=0.2)
    point_mail_settings_at(server)
    for person in users(16):
        queue_password_changed_notice(person)

    run_worker()

    assert len(server.wait_for(16)) == 16
    assert connections_to(server) == 4
    assert server.commands.count("MAIL") == 16
    assert server.most_data_at_once > 1
    assert set(OutgoingMessage.objects.values_list("state", flat=True)) == {State.SENT}
    assert set(OutgoingMessage.objects.values_list("attempts", flat=True)) == {1}


def test_failed_message_does_not_cost_the_rest_of_the_batch(
    forgot_password_on, smtp_server_factory, run_worker
) -> None:
    server = smtp_server_factory(reject_recipients={"user1@example.org"})
    point_mail_settings_at(server)
    for person in users(3):
        queue_password_changed_notice(person)

    run_worker()

    assert sorted(m["To"] for m in server.wait_for(2)) == ["user0@example.org", "user2@example.org"]
    states = dict(OutgoingMessage.objects.values_list("recipient", "state"))
    assert states == {
        "user0@example.org": State.SENT,
        "user1@example.org": State.FAILED,
        "user2@example.org": State.SENT,
    }


def test_accepted_message_is_recorded_sent_even_when_what_follows_fails(
    monkeypatch, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    queue_password_changed_notice(regular_user)

    def fail_after_acceptance(*args, **kwargs) -> None:
        raise RuntimeError("the audit log is unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(services, "_after_outcome", fail_after_acceptance)
        run_worker()
    make_retries_due()
    run_worker()

    assert len(smtp_server.wait_for(1)) == 1
    message = OutgoingMessage.objects.get()
    assert message.state == State.SENT
    assert message.attempts == 1
    assert len(smtp_server.messages) == 1


def test_an_acceptance_is_recorded_through_a_database_blip_and_never_sent_again(
    monkeypatch, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    """The database refuses the first two writes of the acceptance, as during a restart.

    A fault that cannot be timed for real around one UPDATE, so the write itself is made to
    fail; everything else (the server, the worker, the database) is real.
    """
    queue_password_changed_notice(regular_user)
    monkeypatch.setattr(services, "ACCEPTANCE_RETRY_MAX_PAUSE", 0.05)
    real_update = QuerySet.update
    refused: list[str] = []

    def blip(queryset: QuerySet[Any], **values: Any) -> int:
        if values.get("state") == State.SENT and len(refused) < 2:
            refused.append(values["message_id"])
            raise OperationalError("server closed the connection unexpectedly")
        return real_update(queryset, **values)

    monkeypatch.setattr(QuerySet, "update", blip)
    run_worker()
    # Whatever a later worker finds due, after the lease would have run out.
    OutgoingMessage.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    make_retries_due()
    run_worker()

    assert len(refused) == 2
    assert len(smtp_server.wait_for(1)) == 1
    message = OutgoingMessage.objects.get()
    assert message.state == State.SENT
    assert message.message_id == refused[0]
    assert len(smtp_server.messages) == 1


def test_message_taken_over_after_its_lease_expired_is_not_sent_again_by_the_first_worker(
    forgot_password_on, smtp_server, run_worker
) -> None:
    """A worker slower than its lease must not send what another worker has taken over."""
    for person in users(3):
        queue_password_changed_notice(person)
    stalled_batch, _ = services._claim(3)  # The first worker claims, then stalls.
    OutgoingMessage.objects.update(locked_until=timezone.now() - timedelta(seconds=1))

    services.deliver_due()  # A second worker takes the expired lease over and sends.
    services._send_batch(stalled_batch)  # The first worker wakes up.

    assert len(smtp_server.wait_for(3)) == 3
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "user0@example.org",
        "user1@example.org",
        "user2@example.org",
    ]
    assert set(OutgoingMessage.objects.values_list("state", flat=True)) == {State.SENT}


def test_unconfigured_mail_server_keeps_mail_waiting(
    forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    queue_password_changed_notice(regular_user)
    MailServerSettings.objects.filter(pk=1).update(host="")

    run_worker()

    message = OutgoingMessage.objects.get()
    assert message.state == State.RETRYING
    assert "not configured" in message.last_error


def test_reset_requested_behind_a_thousand_queued_notices_goes_out_in_the_first_claim(
    settings, forgot_password_on, regular_user, smtp_server
) -> None:
    settings.DELIVERY_CONNECTIONS = 4
    now = timezone.now()
    OutgoingMessage.objects.bulk_create(
        OutgoingMessage(
            kind=Kind.PASSWORD_CHANGED,
            recipient=regular_user.email,
            user=regular_user,
            priority=priority_of(Kind.PASSWORD_CHANGED),
            context={"changed_at": now.isoformat()},
            created_at=now - timedelta(minutes=1),
            next_attempt_at=now - timedelta(minutes=1),
        )
        for number in range(1000)
    )
    services.message_record(
        kind=Kind.RESET,
        recipient=regular_user.email,
        user=regular_user,
        context={"requested_at": now.isoformat()},
    )

    # One claim's worth: two mails for each of the four connections.
    sent = services.deliver_due(max_messages=8)

    assert sent == 8
    reset = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert reset.state == State.SENT
    subjects = [message["Subject"] for message in smtp_server.wait_for(8)]
    assert len(subjects) == 8
    assert reset.message_id in {message["Message-ID"] for message in smtp_server.messages}
    assert OutgoingMessage.objects.filter(kind=Kind.PASSWORD_CHANGED, state=State.SENT).count() == 7


def test_bulk_mail_of_an_urgent_kind_can_wait_behind_the_backlog(
    forgot_password_on, regular_user
) -> None:
    message = services.message_record(
        kind=Kind.RESET, recipient=regular_user.email, user=regular_user, priority=Priority.BACKLOG
    )

    assert message.priority == Priority.BACKLOG
    assert priority_of(Kind.RESET) == Priority.URGENT
    assert priority_of(Kind.TEST) == Priority.URGENT
    assert priority_of("invitation") == Priority.URGENT
    assert priority_of(Kind.PASSWORD_CHANGED) == Priority.BACKLOG


def test_throttling_server_pauses_all_sending_without_failing_a_mail(
    settings, forgot_password_on, smtp_server_factory, run_worker
) -> None:
    """Answered "421 4.3.2" after three mails, the installation holds back, then sends the rest."""
    settings.DELIVERY_CONNECTIONS = 1
    server = smtp_server_factory()
    server.throttle_after = 3
    point_mail_settings_at(server)
    for person in users(6):
        queue_password_changed_notice(person)

    run_worker()

    assert len(server.messages) == 3
    # Refused once, or twice when the connection had started on the next mail before the pause
    # was recorded; after that nothing is tried.
    assert 1 <= server.throttled <= 2
    assert services.sending_paused_until() is not None
    waiting = OutgoingMessage.objects.exclude(state=State.SENT)
    assert waiting.count() == 3
    assert not waiting.filter(state=State.FAILED).exists()
    assert set(waiting.values_list("attempts", flat=True)) == {0}  # No attempt was burnt.
    assert any("4.3.2" in m.last_error or "busy" in m.last_error.lower() for m in waiting)

    # While the pause lasts, no worker sends: mail already due waits too.
    services.deliver_due()
    assert len(server.messages) == 3

    # The pause passes; for some minutes the installation sends at half the rate the server
    # balked at: 3 mails in the last minute, so now 1 a minute.
    server.throttle_after = None
    pause = SendingPause.objects.get()
    assert pause.reduced_rate_per_minute == 1
    assert pause.reduced_until is not None
    assert pause.reduced_until > timezone.now() + timedelta(minutes=9)
    SendingPause.objects.update(until=timezone.now() - timedelta(seconds=1))
    waiting.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    services.deliver_due()  # As the delivery task scheduled for the end of the pause does.
    assert len(server.messages) == 3  # The last minute's 3 mails spend the halved budget.

    # A minute passes: one mail goes, the next waits for the minute after.
    DeliveryAttempt.objects.update(at=timezone.now() - timedelta(seconds=61))
    services.deliver_due()
    assert len(server.wait_for(4)) == 4
    services.deliver_due()
    assert len(server.messages) == 4

    # The slow-down ends: the rest go at once.
    SendingPause.objects.update(reduced_until=timezone.now() - timedelta(seconds=1))
    services.deliver_due()
    assert len(server.wait_for(6)) == 6
    assert set(OutgoingMessage.objects.values_list("state", flat=True)) == {State.SENT}
    assert len({message["To"] for message in server.messages}) == 6


def test_a_plain_temporary_failure_does_not_pause_sending(
    forgot_password_on, regular_user, smtp_server_factory, run_worker
) -> None:
    server = smtp_server_factory(temporary_failures=1)
    point_mail_settings_at(server)
    queue_password_changed_notice(regular_user)

    run_worker()

    assert services.sending_paused_until() is None
    assert OutgoingMessage.objects.get().attempts == 1


def test_a_delivery_busy_with_a_backlog_mails_a_reset_requested_meanwhile(
    settings, forgot_password_on, regular_user, smtp_server
) -> None:
    """The request's own task has not run (the worker is busy delivering the backlog)."""
    settings.DELIVERY_CONNECTIONS = 4
    now = timezone.now()
    OutgoingMessage.objects.bulk_create(
        OutgoingMessage(
            kind=Kind.PASSWORD_CHANGED,
            recipient=regular_user.email,
            user=regular_user,
            priority=priority_of(Kind.PASSWORD_CHANGED),
            context={"changed_at": now.isoformat()},
            next_attempt_at=now - timedelta(minutes=1),
        )
        for number in range(100)
    )
    reset_request(address=regular_user.email.upper(), client_address="192.0.2.7")
    waiting_task = DBTaskResult.objects.get(task_path__endswith="reset_request_process")

    # One claim's worth: the waiting request becomes a reset mail before the claim, and goes first.
    assert services.deliver_due(max_messages=8) == 8

    reset = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert reset.state == State.SENT
    assert ResetRequest.objects.get().processed_at is not None
    # The running delivery sent it: no delivery task was queued for it.
    assert not DBTaskResult.objects.filter(task_path__endswith="deliver_due").exists()
    # The request's own task, when it runs, finds it done and sends nothing twice.
    reset_request_process(waiting_task.args_kwargs["args"][0])
    assert OutgoingMessage.objects.filter(kind=Kind.RESET).count() == 1


def test_delivery_tasks_run_before_other_waiting_tasks(forgot_password_on, regular_user) -> None:
    reset_request(address=regular_user.email, client_address="192.0.2.7")
    services.message_record(kind=Kind.PASSWORD_CHANGED, recipient=regular_user.email)

    first = DBTaskResult.objects.ready().first()

    assert first is not None
    assert first.task_path.endswith("deliver_due")


def test_acceptances_in_hand_together_are_each_recorded_with_their_own_message_id(
    forgot_password_on, smtp_server
) -> None:
    """Acceptances that arrive together share one write; each keeps its own Message-ID."""
    for person in users(3):
        queue_password_changed_notice(person)
    claimed, _ = services._claim(3)
    accepted = [
        (message, Outcome(message.pk, None, f"<{message.pk}@example.org>")) for message in claimed
    ]

    services._acceptances_write(accepted)

    for message in OutgoingMessage.objects.all():
        assert message.state == State.SENT
        assert message.message_id == f"<{message.pk}@example.org>"
        (attempt,) = DeliveryAttempt.objects.filter(message=message)
        assert attempt.number == 1
        assert attempt.outcome == AttemptOutcome.SENT
        assert attempt.reply == f"Accepted: <{message.pk}@example.org>"
