"""Recording events: repeats of one event are counted on one row per window, in every process."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection

from autommate.audit.models import Action, AuditEvent
from autommate.audit.services import REPEAT_WINDOW_SECONDS, audit_record_repeated

WINDOW_START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(monkeypatch) -> SimpleNamespace:
    """The audit log's clock, at the start of a window."""
    clock = SimpleNamespace(moment=WINDOW_START)
    fake = SimpleNamespace(now=lambda: clock.moment)
    monkeypatch.setattr("autommate.audit.services.timezone", fake)
    return clock


def refuse(key: str = "198.51.100.5") -> AuditEvent:
    return audit_record_repeated(
        Action.RATE_LIMITED, repeats=f"reset-client:{key}", client_address=key, limit="reset-client"
    )


@pytest.mark.django_db
def test_repeats_in_one_window_count_on_the_first_event(now) -> None:
    first = refuse()
    now.moment += timedelta(seconds=REPEAT_WINDOW_SECONDS - 1)
    refuse()
    refuse()

    event = AuditEvent.objects.get()
    assert event.pk == first.pk
    assert event.count == 3
    assert event.at == WINDOW_START
    assert event.last_at == now.moment
    assert event.detail == {"limit": "reset-client"}


@pytest.mark.django_db
def test_a_new_window_or_another_key_starts_a_new_event(now) -> None:
    refuse()
    refuse("203.0.113.9")
    now.moment += timedelta(seconds=REPEAT_WINDOW_SECONDS)
    refuse()

    assert sorted((e.client_address, e.count, e.last_at) for e in AuditEvent.objects.all()) == [
        ("198.51.100.5", 1, None),
        ("198.51.100.5", 1, None),
        ("203.0.113.9", 1, None),
    ]


@pytest.mark.django_db
def test_the_key_that_repeats_is_stored_only_as_a_keyed_hash(now) -> None:
    audit_record_repeated(
        Action.RATE_LIMITED, repeats="reset-address:mike@example.org", limit="reset-address"
    )

    stored = repr(list(AuditEvent.objects.values()))
    assert "mike@example.org" not in stored


@pytest.mark.django_db(transaction=True)
def test_repeats_recorded_at_once_by_many_threads_are_all_counted_on_one_event(now) -> None:
    start = threading.Barrier(8)

    def flood() -> None:
        try:
            start.wait()
            for _ in range(25):
                refuse()
        finally:
            connection.close()

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert list(AuditEvent.objects.values_list("count", flat=True)) == [200]
