"""The rate limiter: sliding windows, only allowed events counted, several counters at once.

These run against whichever store the suite has: the database, or Redis with REDIS_URL set.
"""

from __future__ import annotations

import pytest

from autommate.ratelimits.services import Counter, attempt, hit, peek, release, reset_scope
from tests.security.conftest import Clock

pytestmark = pytest.mark.django_db

MINUTE = 60
DAY = 86400


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("autommate.ratelimits.services.time", clock)
    return clock


def allowed(times: int, scope: str = "test", key: str = "k", limit: str = "2/15m") -> int:
    return sum(hit(scope, key, limit).allowed for _ in range(times))


def test_an_event_counts_for_exactly_one_period_after_it_happened(clock: Clock) -> None:
    assert allowed(1) == 1
    clock.advance(10 * MINUTE)
    assert allowed(1) == 1
    clock.advance(5 * MINUTE)  # The first event is 15 minutes old: its place is free again.
    assert allowed(2) == 1
    clock.advance(10 * MINUTE - 1)  # The second is not quite 15 minutes old.
    assert allowed(1) == 0
    clock.advance(1)
    assert allowed(1) == 1


def test_no_boundary_lets_a_second_burst_through(clock: Clock) -> None:
    # A fixed window would start afresh at the quarter hour and let a second burst in at once.
    clock.advance(15 * MINUTE - 1)
    assert allowed(2) == 2
    clock.advance(2)
    assert allowed(2) == 0


def test_refused_events_are_not_counted(clock: Clock) -> None:
    limit = "3/15m,10/d"
    assert sum(hit("test", "k", limit).allowed for _ in range(100)) == 3
    clock.advance(15 * MINUTE)
    assert sum(hit("test", "k", limit).allowed for _ in range(100)) == 3


def test_the_wait_is_until_the_oldest_counted_event_leaves_the_window(clock: Clock) -> None:
    assert allowed(1) == 1
    clock.advance(4 * MINUTE)
    assert allowed(1) == 1
    refused = hit("test", "k", "2/15m")
    assert not refused.allowed
    assert refused.retry_after_seconds == 11 * MINUTE
    assert peek("test", "k", "2/15m").retry_after_seconds == 11 * MINUTE
    assert refused.full == ("test",)


def test_the_longest_wait_of_several_rates_counts(clock: Clock) -> None:
    limit = "1/m,3/d"
    for _ in range(3):
        assert hit("test", "k", limit).allowed
        clock.advance(MINUTE)
    refused = hit("test", "k", limit)
    assert refused.retry_after_seconds == DAY - 3 * MINUTE


def test_an_event_is_counted_in_every_counter_or_in_none(clock: Clock) -> None:
    roomy = Counter("roomy", "k", "5/h")
    tight = Counter("tight", "k", "1/h")
    first = attempt(roomy, tight)
    assert first.allowed
    assert first.full == ("tight",)
    second = attempt(roomy, tight)
    assert not second.allowed
    assert second.full == ("tight",)
    # The refused event did not take one of roomy's places.
    assert sum(hit("roomy", "k", "5/h").allowed for _ in range(10)) == 4


def test_a_released_event_frees_its_place(clock: Clock) -> None:
    counters = (Counter("a", "k", "1/h"), Counter("b", "k", "1/h"))
    taken = attempt(*counters)
    assert not attempt(*counters).allowed
    release(taken)
    assert attempt(*counters).allowed


def test_peek_counts_nothing(clock: Clock) -> None:
    for _ in range(5):
        assert peek("test", "k", "1/h").allowed
    assert hit("test", "k", "1/h").allowed
    assert not peek("test", "k", "1/h").allowed


def test_a_limit_that_is_off_allows_everything_and_stores_nothing(clock: Clock) -> None:
    assert all(hit("test", "k", "off").allowed for _ in range(50))
    assert attempt(Counter("test", "k", "off")).receipt == ()


def test_keys_and_scopes_are_counted_apart_and_a_scope_can_be_forgotten(clock: Clock) -> None:
    assert allowed(2, scope="device:one", key="a") == 2
    assert allowed(2, scope="device:one", key="b") == 2
    assert allowed(2, scope="device:two", key="a") == 2
    reset_scope("device:one")
    assert allowed(2, scope="device:one", key="a") == 2
    assert allowed(2, scope="device:one", key="b") == 2
    assert allowed(1, scope="device:two", key="a") == 0
