"""The audit log read its page and the JSON API share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autommate.audit.models import Action, AuditEvent
from autommate.audit.selectors import audit_event_list

pytestmark = pytest.mark.django_db

NOON = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def event(target: str, *, action: Action, minutes: int) -> AuditEvent:
    """Record an event `minutes` after NOON."""
    return AuditEvent.objects.create(
        action=action, target=target, at=NOON + timedelta(minutes=minutes)
    )


@pytest.fixture
def audit_log() -> None:
    event("first", action=Action.SIGN_IN, minutes=0)
    event("second", action=Action.USER_CREATED, minutes=10)
    event("third", action=Action.SIGN_IN, minutes=20)
    event("fourth", action=Action.SIGN_OUT, minutes=30)


def targets(**filters: Any) -> list[str]:
    return [found.target for found in audit_event_list(**filters)]


def test_without_filters_every_event_comes_newest_first(audit_log: None) -> None:
    assert targets() == ["fourth", "third", "second", "first"]


def test_events_at_the_same_moment_come_newest_recorded_first() -> None:
    event("earlier", action=Action.SIGN_IN, minutes=0)
    event("later", action=Action.SIGN_IN, minutes=0)

    assert targets() == ["later", "earlier"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"action": Action.SIGN_IN}, ["third", "first"]),
        ({"action": Action.USER_CREATED}, ["second"]),
        ({"action": Action.RATE_LIMITED}, []),
        ({"since": NOON + timedelta(minutes=10)}, ["fourth", "third", "second"]),
        ({"until": NOON + timedelta(minutes=10)}, ["first"]),
        (
            {"since": NOON + timedelta(minutes=10), "until": NOON + timedelta(minutes=30)},
            ["third", "second"],
        ),
        ({"action": Action.SIGN_IN, "since": NOON + timedelta(minutes=1)}, ["third"]),
    ],
)
def test_filters_narrow_by_action_and_time(
    audit_log: None, filters: dict[str, Any], expected: list[str]
) -> None:
    assert targets(**filters) == expected
