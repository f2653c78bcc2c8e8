"""The shared send budget, the connection slots and the probe of a server that went away, in one
process against the real test SMTP server (tests/delivery/test_workers.py has real workers)."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from autommate.accounts.models import User
from autommate.delivery import pacing, services
from autommate.delivery.attempts import DeliveryAttempt
from autommate.delivery.models import (
    ConnectionSlot,
    Kind,
    OutgoingMessage,
    Priority,
    SendingPause,
    ServerOutage,
    State,
)
from autommate.mailserver.explanations import mail_log_failure
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.steps import MailStepError, StepName
from tests.conftest import USER_PASSWORD, point_mail_settings_at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]


def limit(*, per_minute: int | None = None, connections: int | None = None) -> None:
    MailServerSettings.objects.filter(pk=1).update(
        send_rate_per_minute=per_minute, max_connections=connections
    )


def queue_notices(count: int, *, start: int = 0) -> list[OutgoingMessage]:
    messages = []
    for number in range(start, start + count):
        user = User.objects.create_user(f"user{number}@example.org", USER_PASSWORD)
        messages.append(
            services.message_record(
                kind=Kind.PASSWORD_CHANGED,
                recipient=user.email,
                user=user,
                context={"changed_at": timezone.now().isoformat()},
            )
        )
    return messages


def queue_urgent(address: str) -> OutgoingMessage:
    """Queue a mail someone waits for now (sent as a notice, claimed as urgent as a reset is)."""
    user = User.objects.create_user(address, USER_PASSWORD)
    return services.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=address,
        user=user,
        context={"changed_at": timezone.now().isoformat()},
        priority=Priority.URGENT,
    )


def a_minute_passes() -> None:
    """Move every attempt, and every scheduled delivery round, a minute into the past."""
    minute = timedelta(seconds=pacing.RATE_WINDOW_SECONDS + 1)
    DeliveryAttempt.objects.update(at=F("at") - minute)
    DBTaskResult.objects.filter(run_after__gt=timezone.now()).update(
        run_after=timezone.now() - timedelta(seconds=1)
    )


def test_the_rate_limit_sends_no_more_than_its_budget_in_a_minute(
    forgot_password_on, smtp_server, run_worker
) -> None:
    limit(per_minute=5)
    queue_notices(12)

    run_worker()

    assert len(smtp_server.wait_for(5)) == 5
    run_worker()  # Every round of the backlog finds the budget spent.
    assert len(smtp_server.messages) == 5
    assert OutgoingMessage.objects.filter(state=State.QUEUED).count() == 7
    # The rest waits for one round scheduled when the oldest mail of the minute leaves it,
    # not one per queued mail, and costs no attempt.
    first_at = DeliveryAttempt.objects.order_by("at").first()
    assert first_at is not None
    waiting = DBTaskResult.objects.filter(status="READY", run_after__gt=timezone.now())
    assert waiting.count() == 1
    scheduled = waiting.get().run_after
    assert first_at.at + timedelta(seconds=60) <= scheduled
    assert scheduled <= first_at.at + timedelta(seconds=61)
    assert set(
        OutgoingMessage.objects.filter(state=State.QUEUED).values_list("attempts", flat=True)
    ) == {0}

    a_minute_passes()
    run_worker()
    assert len(smtp_server.wait_for(10)) == 10
    run_worker()
    assert len(smtp_server.messages) == 10

    a_minute_passes()
    run_worker()
    assert len(smtp_server.wait_for(12)) == 12
    assert set(OutgoingMessage.objects.values_list("state", flat=True)) == {State.SENT}
    assert len({message["To"] for message in smtp_server.messages}) == 12


def test_a_mail_counts_against_the_rate_while_it_is_being_sent(forgot_password_on) -> None:
    limit(per_minute=3)
    queue_notices(5)

    claimed, frees_at = services._claim(10, rated=True)

    assert len(claimed) == 3
    assert frees_at is None
    assert pacing.sent_in_window(now=timezone.now()) == 3
    again, frees_at = services._claim(10, rated=True)
    assert again == []
    assert frees_at is not None  # Mail is due, and the budget frees up soon.


def test_urgent_mail_goes_first_when_the_budget_frees_up(
    settings, forgot_password_on, smtp_server, run_worker
) -> None:
    settings.DELIVERY_CONNECTIONS = 1  # One connection: the server receives in claim order.
    limit(per_minute=2)
    queue_notices(2)
    run_worker()
    smtp_server.wait_for(2)
    backlog = queue_notices(5, start=10)
    reset = queue_urgent("waiting@example.org")
    assert reset.priority == Priority.URGENT
    assert {m.priority for m in backlog} == {Priority.BACKLOG}

    a_minute_passes()
    run_worker()

    received = smtp_server.wait_for(4)
    assert received[2]["To"] == "waiting@example.org"


def test_no_worker_opens_more_connections_than_the_cap(settings) -> None:
    settings.DELIVERY_CONNECTIONS = 4
    first = pacing.ConnectionSlots(cap=3, wanted=4)
    second = pacing.ConnectionSlots(cap=3, wanted=4)

    assert first.numbers == [1, 2, 3]
    assert second.numbers == []
    first.release()
    third = pacing.ConnectionSlots(cap=3, wanted=2)
    assert third.numbers == [1, 2]


def test_a_dead_workers_connection_slots_free_up_when_their_lease_runs_out() -> None:
    dead = pacing.ConnectionSlots(cap=2, wanted=2)
    assert dead.numbers == [1, 2]
    ConnectionSlot.objects.update(leased_until=timezone.now() - timedelta(seconds=1))

    assert pacing.ConnectionSlots(cap=2, wanted=2).numbers == [1, 2]


def test_a_round_without_a_free_connection_slot_leaves_the_mail_to_the_holder(
    forgot_password_on, smtp_server, run_worker
) -> None:
    limit(connections=1)
    queue_notices(3)
    elsewhere = pacing.ConnectionSlots(cap=1, wanted=1)  # Another worker is sending.

    assert services.deliver_due() == 0
    assert smtp_server.messages == []
    # Should the holder have died, a round looks again once its slots are free.
    later = DBTaskResult.objects.filter(status="READY", run_after__gt=timezone.now())
    assert later.filter(
        run_after__lte=timezone.now() + timedelta(seconds=pacing.SLOT_LEASE_SECONDS + 1)
    ).exists()

    # The holder's round ends with mail still due: it schedules a round as it lets go.
    elsewhere.release()
    DBTaskResult.objects.all().delete()
    assert services.deliver_due(max_messages=2) == 2
    assert not ConnectionSlot.objects.exclude(holder="").exists()  # Given back.
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    run_worker()
    assert len(smtp_server.wait_for(3)) == 3


def test_a_throttling_answer_counts_no_attempt_and_halves_the_rate(
    forgot_password_on, smtp_server, run_worker
) -> None:
    limit(per_minute=30)
    smtp_server.throttle_after = 4
    queue_notices(8)

    run_worker()

    assert len(smtp_server.messages) == 4
    assert not OutgoingMessage.objects.filter(state=State.FAILED).exists()
    assert set(
        OutgoingMessage.objects.exclude(state=State.SENT).values_list("attempts", flat=True)
    ) == {0}
    pause = SendingPause.objects.get()
    assert services.sending_paused_until() is not None
    assert pause.reduced_rate_per_minute == 15
    assert pacing.effective_rate(pause, now=timezone.now()) == 15


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (MailStepError(StepName.CONNECT, ConnectionRefusedError(111, "refused")), True),
        (MailStepError(StepName.CONNECT, TimeoutError("timed out")), True),
        (
            MailStepError(
                StepName.LOGIN, smtplib.SMTPAuthenticationError(454, b"4.7.0 Temporary failure")
            ),
            True,
        ),
        (
            MailStepError(
                StepName.SENDER,
                smtplib.SMTPSenderRefused(421, b"4.3.0 Service shutting down", "a@example.org"),
            ),
            True,
        ),
        (
            MailStepError(
                StepName.RECIPIENT,
                smtplib.SMTPRecipientsRefused(
                    {"b@example.org": (450, b"4.2.2 Mailbox full, try again later")}
                ),
            ),
            False,
        ),
        (
            MailStepError(
                StepName.RECIPIENT,
                smtplib.SMTPRecipientsRefused(
                    {"b@example.org": (550, b"5.1.1 Recipient address rejected: user unknown")}
                ),
            ),
            False,
        ),
        (
            MailStepError(
                StepName.MESSAGE,
                smtplib.SMTPDataError(421, b"4.3.2 The server is busy; rate limit exceeded"),
            ),
            False,  # Throttled: slowed down, not probed.
        ),
    ],
)
def test_only_the_servers_own_temporary_failures_wait_for_a_probe(
    error: BaseException, outage: bool
) -> None:
    assert mail_log_failure(error).outage is outage


def test_mail_waiting_for_a_server_that_went_away_goes_out_the_moment_a_probe_finds_it(
    forgot_password_on, smtp_server, run_worker
) -> None:
    queue_notices(3)
    smtp_server.stop()

    run_worker()

    waiting = OutgoingMessage.objects.all()
    assert set(waiting.values_list("state", flat=True)) == {State.RETRYING}
    assert set(waiting.values_list("waiting_for_server", flat=True)) == {True}
    backoff = min(m.next_attempt_at for m in waiting if m.next_attempt_at)
    assert backoff > timezone.now() + timedelta(seconds=15)
    outage = ServerOutage.objects.get()
    assert outage.probe_interval_seconds == pacing.PROBE_FIRST_SECONDS

    # Not due yet: nothing is probed.
    assert services.server_probe() is None
    # Due, and the server is still away: the next probe waits twice as long.
    ServerOutage.objects.update(next_probe_at=timezone.now())
    assert services.server_probe() is None
    assert ServerOutage.objects.get().probe_interval_seconds == 2 * pacing.PROBE_FIRST_SECONDS
    # Growing no further than PROBE_MAX_SECONDS.
    for _ in range(6):
        ServerOutage.objects.update(next_probe_at=timezone.now())
        services.server_probe()
    assert ServerOutage.objects.get().probe_interval_seconds == pacing.PROBE_MAX_SECONDS

    smtp_server.start()
    ServerOutage.objects.update(next_probe_at=timezone.now())
    assert services.server_probe() == 3
    now = timezone.now()
    assert all(m.next_attempt_at and m.next_attempt_at <= now for m in waiting.all())
    # The probe said hello, logged in as configured and said goodbye; it sent no mail.
    assert "QUIT" in smtp_server.commands
    assert "MAIL" not in smtp_server.commands

    run_worker()  # The round the release scheduled.

    assert len(smtp_server.wait_for(3)) == 3
    assert set(OutgoingMessage.objects.values_list("state", flat=True)) == {State.SENT}
    assert not ServerOutage.objects.exists()


def test_mail_refused_for_its_own_reason_keeps_its_backoff(
    forgot_password_on, smtp_server_factory, run_worker
) -> None:
    server = smtp_server_factory(temporary_failures=0)
    point_mail_settings_at(server)
    server.rcpt_reply = "450 4.2.2 <{recipient}>: Mailbox full, try again later"
    (message,) = queue_notices(1)

    run_worker()

    message.refresh_from_db()
    assert message.state == State.RETRYING
    assert message.waiting_for_server is False
    assert not ServerOutage.objects.exists()


def test_the_mail_log_says_how_fast_mail_goes_out_and_why(
    admin_client, forgot_password_on, smtp_server, run_worker
) -> None:
    limit(per_minute=30, connections=3)
    page = admin_client.get("/settings/mail/log/").content.decode()
    assert "Send rate limit: 30 messages per minute, at most 3 connections at once" in page
    assert "cannot be reached" not in page
    assert "slowed down" not in page

    smtp_server.throttle_after = 1
    queue_notices(3)
    run_worker()
    page = admin_client.get("/settings/mail/log/").content.decode()
    assert "Sending is slowed down:" in page
    assert "at most 15 messages a minute" in page

    smtp_server.stop()
    SendingPause.objects.update(until=timezone.now() - timedelta(seconds=1))
    OutgoingMessage.objects.exclude(state=State.SENT).update(next_attempt_at=timezone.now())
    DBTaskResult.objects.update(run_after=timezone.now() - timedelta(seconds=1))
    run_worker()
    page = admin_client.get("/settings/mail/log/").content.decode()
    assert "The mail server cannot be reached" in page
    assert "probed every 2 seconds" in page


def test_the_probe_keeps_within_the_connection_cap(
    forgot_password_on, smtp_server, run_worker
) -> None:
    limit(connections=1)
    queue_notices(1)
    smtp_server.stop()
    run_worker()
    smtp_server.start()
    ServerOutage.objects.update(next_probe_at=timezone.now())
    busy = pacing.ConnectionSlots(cap=1, wanted=1)  # Another worker holds the one connection.

    assert services.server_probe() is None
    assert "EHLO" not in smtp_server.commands
    outage = ServerOutage.objects.get()
    assert outage.probe_interval_seconds == pacing.PROBE_FIRST_SECONDS  # Not a failed probe.

    busy.release()
    assert services.server_probe() == 1
    assert not ConnectionSlot.objects.exclude(holder="").exists()
