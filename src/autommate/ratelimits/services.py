"""Count events against limits written as readable strings ("3/15m,10/d").

A limit is checked and counted in one step, atomically, in a store every process shares: Redis
(`REDIS_URL`) or the database. A per-process memory cache is never used, because N processes
would then allow N times the limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from http import HTTPStatus

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

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

    def __init__(
        self, retry_after_seconds: int, *, reason: str = "Too many requests.", otherwise: str = ""
    ) -> None:
        wait = max(1, retry_after_seconds)
        alternative = f", {otherwise}" if otherwise else ""
        super().__init__(
            f"{reason} Try again in {wait_in_words(wait)}{alternative}.", retry_after=wait
        )

    @property
    def retry_after_seconds(self) -> int:
        return self.retry_after or 1


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_seconds: int = 0

    def enforce(self, *, reason: str = "Too many requests.") -> None:
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


def hit(scope: str, key: str, limit: str) -> Decision:
    """Count one event for `key` under `limit`; say whether it stays within every rate."""
    retry_after = 0
    for rate, counter_key, seconds_left in _windows(scope, key, parse_limit(limit)):
        if _increment(counter_key, expires_in=seconds_left + 1) > rate.count:
            retry_after = max(retry_after, seconds_left)
    return Decision(allowed=retry_after == 0, retry_after_seconds=retry_after)


def peek(scope: str, key: str, limit: str) -> Decision:
    """Say whether `key` is over `limit` now, without counting an event."""
    retry_after = 0
    for rate, counter_key, seconds_left in _windows(scope, key, parse_limit(limit)):
        if _current(counter_key) >= rate.count:
            retry_after = max(retry_after, seconds_left)
    return Decision(allowed=retry_after == 0, retry_after_seconds=retry_after)


def _digest(key: str) -> str:
    # Counters are named by a keyed digest: the store never holds an address or a client.
    return hashlib.sha256(f"{settings.SECRET_KEY}:{key}".encode()).hexdigest()[:32]


def _windows(scope: str, key: str, rates: tuple[Rate, ...]) -> Iterator[tuple[Rate, str, int]]:
    """Yield each rate with the counter of its current window and the seconds that window has."""
    digest = _digest(key)
    now = time.time()
    for rate in rates:
        window = int(now // rate.period_seconds)
        seconds_left = math.ceil((window + 1) * rate.period_seconds - now)
        yield rate, f"rl:{scope}:{digest}:{rate.period_seconds}:{window}", seconds_left


def _current(key: str) -> int:
    if settings.REDIS_URL:
        value = _redis().get(key)
        return int(value) if value else 0
    return RateCounter.objects.filter(key=key).values_list("count", flat=True).first() or 0


def reset(scope: str, key: str) -> None:
    """Forget the counts of `key` (for tests and for an administrator's unlock)."""
    prefix = f"rl:{scope}:{_digest(key)}:"
    if settings.REDIS_URL:
        client = _redis()
        for name in client.scan_iter(match=prefix + "*"):
            client.delete(name)
    else:
        RateCounter.objects.filter(key__startswith=prefix).delete()


def _increment(key: str, *, expires_in: int) -> int:
    if settings.REDIS_URL:
        pipe = _redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, expires_in, nx=True)
        count, _ = pipe.execute()
        return int(count)
    return _increment_in_database(key, expires_in=expires_in)


def _increment_in_database(key: str, *, expires_in: int) -> int:
    expires_at = timezone.now() + timedelta(seconds=expires_in)
    for _ in range(3):
        with transaction.atomic():
            updated = RateCounter.objects.filter(key=key).update(count=F("count") + 1)
            if updated:
                return RateCounter.objects.values_list("count", flat=True).get(key=key)
            try:
                with transaction.atomic():
                    RateCounter.objects.create(key=key, count=1, expires_at=expires_at)
            except IntegrityError:
                continue  # Another process created it first: count on top of theirs.
        if random.random() < 0.01:
            RateCounter.objects.filter(expires_at__lt=timezone.now()).delete()
        return 1
    raise RuntimeError(f"Could not count rate-limit event for {key}")


@cache
def _redis():  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)
