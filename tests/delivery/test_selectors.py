"""The mail log and queue reads the page, the JSON API and /readyz share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from autommate.delivery.models import Kind, OutgoingMessage, State, WorkerHeartbeat
from autommate.delivery.selectors import message_list, queue_status

pytestmark = pytest.mark.django_db

NOON = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def message(recipient: str, *, kind: Kind, state: State, minutes: int) -> OutgoingMessage:
    """Record a mail created `minutes` after NOON."""
    return OutgoingMessage.objects.create(
        kind=kind, recipient=recipient, state=state, created_at=NOON + timedelta(minutes=minutes)
    )


@pytest.fixture
def mail_log() -> None:
    message("first@example.org", kind=Kind.RESET, state=State.SENT, minutes=0)
    message("second@example.org", kind=Kind.TEST, state=State.FAILED, minutes=10)
    message("third@example.org", kind=Kind.RESET, state=State.QUEUED, minutes=20)
    message("fourth@example.org", kind=Kind.PASSWORD_CHANGED, state=State.SENT, minutes=30)


def recipients(**filters: Any) -> list[str]:
    return [mail.recipient.split("@")[0] for mail in message_list(**filters)]


def test_without_filters_every_mail_comes_newest_first(mail_log: None) -> None:
    assert recipients() == ["fourth", "third", "second", "first"]


def test_mails_created_at_the_same_moment_come_newest_recorded_first() -> None:
    message("earlier@example.org", kind=Kind.TEST, state=State.SENT, minutes=0)
    message("later@example.org", kind=Kind.TEST, state=State.SENT, minutes=0)

    assert recipients() == ["later", "earlier"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": Kind.RESET}, ["third", "first"]),
        ({"state": State.SENT}, ["fourth", "first"]),
        ({"kind": Kind.RESET, "state": State.SENT}, ["first"]),
        ({"kind": Kind.TEST, "state": State.SENT}, []),
        ({"since": NOON + timedelta(minutes=10)}, ["fourth", "third", "second"]),
        ({"until": NOON + timedelta(minutes=10)}, ["first"]),
        (
            {"since": NOON + timedelta(minutes=10), "until": NOON + timedelta(minutes=30)},
            ["third", "second"],
        ),
        ({"state": State.SENT, "since": NOON + timedelta(minutes=1)}, ["fourth"]),
    ],
)
def test_filters_narrow_by_kind_state_and_creation_time(
    mail_log: None, filters: dict[str, Any], expected: list[str]
) -> None:
    assert recipients(**filters) == expected


def test_queue_status_of_an_empty_queue_without_a_worker() -> None:
    assert queue_status() == {
        "waiting": 0,
        "oldest_waiting_seconds": 0,
        "worker_last_seen_seconds": None,
        "sent_24h": 0,
        "retrying": 0,
        "failed_24h": 0,
    }


def test_queue_status_counts_waiting_mail_and_the_last_day() -> None:
    now = timezone.now()
    for state, hours_ago in [
        (State.QUEUED, 2),
        (State.RETRYING, 1),
        (State.SENDING, 0),
        (State.SENT, 1),
        (State.SENT, 25),  # older than a day: not counted
        (State.FAILED, 3),
    ]:
        OutgoingMessage.objects.create(
            kind=Kind.RESET,
            recipient="someone@example.org",
            state=state,
            created_at=now - timedelta(hours=hours_ago),
        )
    WorkerHeartbeat.objects.create(worker_id="old", last_seen_at=now - timedelta(minutes=5))
    WorkerHeartbeat.objects.create(worker_id="new", last_seen_at=now - timedelta(seconds=30))

    status = queue_status()

    assert status["waiting"] == 3
    assert 2 * 3600 - 5 <= status["oldest_waiting_seconds"] <= 2 * 3600 + 5
    assert 30 <= status["worker_last_seen_seconds"] <= 35
    assert (status["sent_24h"], status["failed_24h"]) == (1, 1)
