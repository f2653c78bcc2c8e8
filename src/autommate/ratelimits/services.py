"""Count events against limits written as readable strings ("3/15m,10/d").

Every rate is a sliding window: an event counts for exactly one period after it happened, so a
lock lasts at most one period after the oldest event that causes it, and no boundary lets two
bursts through back to back. Only events a limit allows are counted: a refused request never
makes a lock last longer. Checking and counting is one atomic step, over several counters at
once (every one allows the event and it is counted in each, or it is counted in none), in a
store every process shares: Redis (`REDIS_URL`) or the database. A per-process memory cache is
never used, because N processes would then allow N times the limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from time import monotonic
from typing import Any, Protocol, cast

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from autommate.errors import DomainError, wait_in_words

from .models import RateCounter

logger = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


@dataclass(frozen=True)
class Rate:
    count: int
    period_seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.period_seconds}s"


class RateLimited(DomainError):
    """Too many of one kind of request: the one refusal every limit of the product raises."""

    code = "rate_limited"
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, retry_after_seconds: int, *, reason: str = "", otherwise: str = "") -> None:
        """`reason`, and `otherwise` (another way, such as "or use Forgot Password"), are in the
        reader's language."""
        wait = max(1, retry_after_seconds)
        words = {"reason": reason or _("Too many requests."), "wait": wait_in_words(wait)}
        if otherwise:
            message = _("%(reason)s Try again in %(wait)s, %(otherwise)s.") % {
                **words,
                "otherwise": otherwise,
            }
        else:
            message = _("%(reason)s Try again in %(wait)s.") % words
        super().__init__(message, retry_after=wait)

    @property
    def retry_after_seconds(self) -> int:
        return self.retry_after or 1


@dataclass(frozen=True)
class Counter:
    """One thing counted under one limit: `key` (an address, a client) within `scope`."""

    scope: str
    key: str
    limit: str

    @property
    def name(self) -> str:
        # Counters are named by a keyed digest: the store never holds an address or a client.
        return f"{_scope_prefix(self.scope)}{_digest(self.key)}"

    @property
    def rates(self) -> tuple[Rate, ...]:
        return parse_limit(self.limit)


@dataclass(frozen=True)
class Decision:
    """What a limit said: allowed or not, how long to wait, and which scopes are now full.

    `full` names the scopes that refused the event, or, when it was allowed, those it filled
    (the next event would be refused). `receipt` is what `release` needs to take the event back.
    """

    allowed: bool
    retry_after_seconds: int = 0
    full: tuple[str, ...] = ()
    receipt: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def enforce(self, *, reason: str = "") -> None:
        """Raise RateLimited, saying `reason`, unless the request is within the limit."""
        if not self.allowed:
            raise RateLimited(self.retry_after_seconds, reason=reason)


class InvalidLimit(ValueError):
    pass


@cache
def parse_limit(text: str) -> tuple[Rate, ...]:
    """Return the rates of a limit string; an empty tuple means the limit is off."""
    text = text.strip().lower()
    if text == "off":
        logger.warning("A rate limit is switched off; use this for benchmarks and tests only.")
        return ()
    rates = []
    for part in text.split(","):
        match = _RATE.match(part)
        if not match:
            raise InvalidLimit(
                f"{part.strip()!r} is not a limit: write count/period, such as 3/15m or 10/d."
            )
        count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
        if count < 1 or multiple < 1:
            raise InvalidLimit(f"{part.strip()!r}: the count and the period must be at least 1.")
        rates.append(Rate(count, multiple * _UNITS[unit]))
    return tuple(rates)


# -- What callers use ---------------------------------------------------------------------------


def attempt(*counters: Counter) -> Decision:
    """Count one event in every counter if each one allows it; count nothing otherwise."""
    limited = [c for c in counters if c.rates]
    if not limited:
        return Decision(allowed=True)
    return _store().attempt(limited, now=_now(), event=secrets.token_hex(8))


def hit(scope: str, key: str, limit: str) -> Decision:
    """Count one event for `key` under `limit` if the limit allows it; say whether it did."""
    return attempt(Counter(scope, key, limit))


def peek(scope: str, key: str, limit: str) -> Decision:
    """Say whether one more event for `key` would be allowed now, without counting it."""
    return peek_all(Counter(scope, key, limit))


def peek_all(*counters: Counter) -> Decision:
    """Say whether one more event would be allowed in every counter, without counting it."""
    limited = [c for c in counters if c.rates]
    if not limited:
        return Decision(allowed=True)
    return _store().peek(limited, now=_now())


def release(decision: Decision) -> None:
    """Take back the event an allowed decision counted (a sign-in that turned out right)."""
    if decision.receipt:
        _store().release(decision.receipt)


def reset(scope: str, key: str) -> None:
    """Forget the counts of `key` in `scope` (for an administrator's unlock, and for tests)."""
    _store().forget(Counter(scope, key, "off").name)


def reset_scope(scope: str) -> None:
    """Forget the counts of every key in `scope`."""
    _store().forget_prefix(_scope_prefix(scope))


# -- Sliding windows ----------------------------------------------------------------------------


def _verdict(rates: Sequence[Rate], stamps: Sequence[float], now: float) -> tuple[float, int]:
    """Return the seconds until one more event fits under `rates` (0: now) and the room after it.

    `stamps` are the times of the events counted so far, oldest first. A rate of N per P is full
    while N events lie within the last P seconds; the wait is until the one whose departure
    leaves N - 1 of them is P seconds old.
    """
    wait, room = 0.0, math.inf
    for rate in rates:
        within = [stamp for stamp in stamps if stamp > now - rate.period_seconds]
        if len(within) >= rate.count:
            wait = max(wait, within[len(within) - rate.count] + rate.period_seconds - now)
        else:
            room = min(room, rate.count - len(within) - 1)
    return wait, (0 if wait > 0 or room == math.inf else int(room))


def _decide(
    verdicts: Sequence[tuple[Counter, float, int]], *, counted: bool, event: str = ""
) -> Decision:
    refused = [(counter.scope, wait) for counter, wait, _ in verdicts if wait > 0]
    if refused:
        longest = max(wait for _, wait in refused)
        return Decision(False, max(1, math.ceil(longest)), full=tuple(s for s, _ in refused))
    filled = tuple(counter.scope for counter, _, room in verdicts if room == 0)
    receipt = tuple((counter.name, event) for counter, _, _ in verdicts) if counted else ()
    return Decision(True, 0, full=filled, receipt=receipt)


def _now() -> float:
    # To the microsecond, as Redis keeps it: both stores then see the same times.
    return round(time.time(), 6)


def _longest(counter: Counter) -> int:
    return max(rate.period_seconds for rate in counter.rates)


def _digest(key: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{key}".encode()).hexdigest()[:32]


def _scope_prefix(scope: str) -> str:
    return f"rl:{scope}:"


# -- The stores ---------------------------------------------------------------------------------


class _Store(Protocol):
    def attempt(self, counters: Sequence[Counter], *, now: float, event: str) -> Decision: ...
    def peek(self, counters: Sequence[Counter], *, now: float) -> Decision: ...
    def release(self, receipt: Sequence[tuple[str, str]]) -> None: ...
    def forget(self, name: str) -> None: ...
    def forget_prefix(self, prefix: str) -> None: ...


def _store() -> _Store:
    if settings.REDIS_URL:
        return _resilient_store(settings.REDIS_URL)
    return DatabaseStore()


# Redis answers in well under a millisecond; a Redis that takes longer than this is treated as
# down, so that a hanging Redis delays a request by this much at most, once per RETRY period.
REDIS_TIMEOUT_SECONDS = 0.25
# After Redis failed, how long the database counts alone before Redis is asked again.
REDIS_RETRY_SECONDS = 10.0


class ResilientStore:
    """Redis while it answers; the database while it does not, with one log line per outage.

    A limit is then still enforced, by the database, for every process at once. Around the
    moments Redis leaves and comes back, the events counted in the other store are not seen:
    a limit may allow up to twice its count across the change, never an unlimited number.
    """

    def __init__(self, primary: _Store, fallback: _Store) -> None:
        self.primary = primary
        self.fallback = fallback
        self.down_until = 0.0
        self.outage_logged = False
        self.lock = threading.Lock()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import redis

        if monotonic() >= self.down_until:
            try:
                answer = getattr(self.primary, method)(*args, **kwargs)
            except redis.RedisError as error:
                with self.lock:
                    self.down_until = monotonic() + REDIS_RETRY_SECONDS
                    first = not self.outage_logged
                    self.outage_logged = True
                if first:
                    logger.warning(
                        "Redis cannot be reached (%s): counting rate limits in the database "
                        "until it answers again.",
                        error.__class__.__name__,
                    )
            else:
                if self.outage_logged:
                    with self.lock:
                        self.outage_logged = False
                    logger.warning("Redis answers again: counting rate limits in Redis.")
                return answer
        return getattr(self.fallback, method)(*args, **kwargs)

    @property
    def redis_down(self) -> bool:
        return monotonic() < self.down_until

    def attempt(self, counters: Sequence[Counter], *, now: float, event: str) -> Decision:
        return cast(Decision, self._call("attempt", counters, now=now, event=event))

    def peek(self, counters: Sequence[Counter], *, now: float) -> Decision:
        return cast(Decision, self._call("peek", counters, now=now))

    def release(self, receipt: Sequence[tuple[str, str]]) -> None:
        self._call("release", receipt)

    def forget(self, name: str) -> None:
        # Both: counts made in the database during an outage must not outlive an unlock.
        self._call("forget", name)
        self.fallback.forget(name)

    def forget_prefix(self, prefix: str) -> None:
        self._call("forget_prefix", prefix)
        self.fallback.forget_prefix(prefix)


def redis_reachable() -> bool | None:
    """Whether Redis answers now (None: no Redis is configured); for /readyz."""
    if not settings.REDIS_URL:
        return None
    import redis

    try:
        return bool(_redis(settings.REDIS_URL).ping())
    except redis.RedisError:
        return False


class DatabaseStore:
    """Counters as rows holding the times of their events, changed under the row's lock.

    Each row is locked (PostgreSQL) or the database is (SQLite, whose transactions here take
    the write lock when they begin) before its events are read, so two processes never both
    see room for the last event.
    """

    def attempt(self, counters: Sequence[Counter], *, now: float, event: str) -> Decision:
        names = sorted({counter.name for counter in counters})
        with transaction.atomic():
            RateCounter.objects.bulk_create(
                [RateCounter(key=name, expires_at=_moment(now)) for name in names],
                ignore_conflicts=True,
            )
            rows = {
                row.key: row
                for row in RateCounter.objects.select_for_update()
                .filter(key__in=names)
                .order_by("key")
            }
            verdicts = []
            for counter in counters:
                row = rows[counter.name]
                row.events = _recent(row.events, now - _longest(counter))
                wait, room = _verdict(counter.rates, [stamp for stamp, _ in row.events], now)
                verdicts.append((counter, wait, room))
            decision = _decide(verdicts, counted=True, event=event)
            if decision.allowed:
                for counter in counters:
                    row = rows[counter.name]
                    row.events = [*row.events, [now, event]]
                    row.expires_at = _moment(now + _longest(counter))
                    row.save(update_fields=["events", "expires_at"])
        if random.random() < 0.01:
            RateCounter.objects.filter(expires_at__lt=_moment(now)).delete()
        return decision

    def peek(self, counters: Sequence[Counter], *, now: float) -> Decision:
        stored = dict(
            RateCounter.objects.filter(key__in=[c.name for c in counters]).values_list(
                "key", "events"
            )
        )
        verdicts = []
        for counter in counters:
            events = _recent(stored.get(counter.name) or [], now - _longest(counter))
            wait, room = _verdict(counter.rates, [stamp for stamp, _ in events], now)
            verdicts.append((counter, wait, room))
        return _decide(verdicts, counted=False)

    def release(self, receipt: Sequence[tuple[str, str]]) -> None:
        with transaction.atomic():
            for row in RateCounter.objects.select_for_update().filter(
                key__in=[name for name, _ in receipt]
            ):
                taken = {event for name, event in receipt if name == row.key}
                row.events = [entry for entry in row.events if entry[1] not in taken]
                row.save(update_fields=["events"])

    def forget(self, name: str) -> None:
        RateCounter.objects.filter(key=name).delete()

    def forget_prefix(self, prefix: str) -> None:
        RateCounter.objects.filter(key__startswith=prefix).delete()


def _recent(events: list[Any], since: float) -> list[list[Any]]:
    """Return the events after `since`, oldest first, as [time, id] pairs."""
    kept = [[float(entry[0]), str(entry[1])] for entry in events if float(entry[0]) > since]
    return sorted(kept, key=lambda entry: entry[0])


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# Checks and counts in one step inside Redis, as DatabaseStore does under its locks. Each
# counter is a sorted set of event ids scored by their time. KEYS: the counters. ARGV: now, the
# event's id, then for each counter its number of rates followed by each rate's count and
# period. Returns {1, "0", the counters it filled} or {0, the wait, the counters that refused},
# counters as their 1-based positions in KEYS.
_ATTEMPT_SCRIPT = """
local now = tonumber(ARGV[1])
local event = ARGV[2]
local at = 3
local longest = {}
local wait = 0
local refused = {}
local filled = {}
for i, key in ipairs(KEYS) do
  local rates = {}
  local n = tonumber(ARGV[at])
  at = at + 1
  longest[i] = 0
  for j = 1, n do
    rates[j] = {tonumber(ARGV[at]), tonumber(ARGV[at + 1])}
    at = at + 2
    if rates[j][2] > longest[i] then longest[i] = rates[j][2] end
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.6f', now - longest[i]))
  local refuses, fills = false, false
  for j = 1, n do
    local count, period = rates[j][1], rates[j][2]
    local since = '(' .. string.format('%.6f', now - period)
    local within = redis.call('ZCOUNT', key, since, '+inf')
    if within >= count then
      local oldest = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES',
                                'LIMIT', within - count, 1)
      local this_wait = tonumber(oldest[2]) + period - now
      if this_wait > wait then wait = this_wait end
      refuses = true
    elseif within + 1 >= count then
      fills = true
    end
  end
  if refuses then refused[#refused + 1] = i end
  if fills then filled[#filled + 1] = i end
end
if #refused > 0 then
  return {0, string.format('%.6f', wait), refused}
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, string.format('%.6f', now), event)
  redis.call('PEXPIRE', key, math.ceil(longest[i] * 1000))
end
return {1, '0', filled}
"""


class RedisStore:
    """Counters as sorted sets of event ids scored by time, changed by one script each time."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.script = client.register_script(_ATTEMPT_SCRIPT)

    def attempt(self, counters: Sequence[Counter], *, now: float, event: str) -> Decision:
        arguments: list[Any] = [f"{now:.6f}", event]
        for counter in counters:
            arguments.append(len(counter.rates))
            for rate in counter.rates:
                arguments += [rate.count, rate.period_seconds]
        allowed, wait, positions = self.script(keys=[c.name for c in counters], args=arguments)
        scopes = tuple(counters[int(position) - 1].scope for position in positions)
        if not int(allowed):
            return Decision(False, max(1, math.ceil(float(wait))), full=scopes)
        receipt = tuple((counter.name, event) for counter in counters)
        return Decision(True, 0, full=scopes, receipt=receipt)

    def peek(self, counters: Sequence[Counter], *, now: float) -> Decision:
        verdicts = []
        for counter in counters:
            stamps = [
                float(score)
                for _, score in self.client.zrangebyscore(
                    counter.name, f"({now - _longest(counter):.6f}", "+inf", withscores=True
                )
            ]
            verdicts.append((counter, *_verdict(counter.rates, stamps, now)))
        return _decide(verdicts, counted=False)

    def release(self, receipt: Sequence[tuple[str, str]]) -> None:
        pipe = self.client.pipeline()
        for name, event in receipt:
            pipe.zrem(name, event)
        pipe.execute()

    def forget(self, name: str) -> None:
        self.client.delete(name)

    def forget_prefix(self, prefix: str) -> None:
        for name in self.client.scan_iter(match=prefix + "*"):
            self.client.delete(name)


@cache
def _resilient_store(url: str) -> ResilientStore:
    return ResilientStore(RedisStore(_redis(url)), DatabaseStore())


@cache
def _redis(url: str):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
