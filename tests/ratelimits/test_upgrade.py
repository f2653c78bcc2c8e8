"""Locks in force when an installation upgrades to sliding windows stay in force, no longer."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from autommate.ratelimits.models import RateCounter
from autommate.ratelimits.services import _digest, peek

BEFORE = [("ratelimits", "0001_initial")]
AFTER = [("ratelimits", "0002_sliding_windows")]
QUARTER, DAY = 900, 86400


@pytest.mark.django_db(transaction=True)
def test_counts_of_fixed_windows_become_events_that_leave_when_their_window_ends(settings) -> None:
    # The migration converts the database's counts; counts kept in Redis start afresh, so the
    # database limiter is the one read here even where Redis is configured.
    settings.REDIS_URL = ""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("ratelimits", "RateCounter")
    now = time.time()
    quarter, day = int(now // QUARTER), int(now // DAY)

    def window(key: str, period: int, number: int, count: int) -> None:
        old.objects.create(
            key=f"rl:reset-address:{_digest(key)}:{period}:{number}",
            count=count,
            expires_at=datetime.fromtimestamp((number + 1) * period + 1, tz=UTC),
        )

    # Over the daily limit (old counts included refused requests too).
    window("bombed@example.org", QUARTER, quarter, 57)
    window("bombed@example.org", DAY, day, 57)
    # Within both limits: two mails this quarter, four today.
    window("asked@example.org", QUARTER, quarter, 2)
    window("asked@example.org", DAY, day, 4)
    # Over the limit in a quarter hour that has ended.
    window("earlier@example.org", QUARTER, quarter - 2, 3)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    limit = "3/15m,10/d"
    bombed = peek("reset-address", "bombed@example.org", limit)
    assert not bombed.allowed
    assert bombed.retry_after_seconds == pytest.approx((day + 1) * DAY - now, abs=2)
    assert peek("reset-address", "asked@example.org", limit).allowed
    assert RateCounter.objects.get(key=f"rl:reset-address:{_digest('asked@example.org')}")
    events = RateCounter.objects.get(key=f"rl:reset-address:{_digest('asked@example.org')}").events
    assert len(events) == 4
    assert peek("reset-address", "earlier@example.org", limit).allowed
