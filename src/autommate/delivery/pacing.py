"""How fast every worker together sends: the send rate limit, the connection cap, the slow-down
after a throttling answer, and the probe of a mail server that went away.

Everything is shared through the database, which every worker already uses for the queue, so
the limits hold on SQLite and PostgreSQL alike, with or without Redis:

- The rate is a sliding minute counted from the mail log itself: the attempts recorded in the
  last minute plus the mails being sent now. A worker counts them and claims at most the rest of
  the budget in one transaction, under the lock of the one `SendingPause` row (SQLite's
  transactions take the write lock at their start), so two workers never both spend the same
  budget, and a worker that dies leaves nothing behind to give back.
- Connections are `ConnectionSlot` rows, leased like the messages: a worker takes free slots
  before it connects, renews them while it sends and frees them when it closes its connections;
  a dead worker's slots are free again when their lease runs out.

Delivery knows nothing of the mail server's settings: the mail server registers the function
that reads its limits (`register_send_limits`), as it registers how its failures read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.crypto import get_random_string

from .attempts import DeliveryAttempt
from .models import ConnectionSlot, OutgoingMessage, SendingPause, ServerOutage, State

logger = logging.getLogger(__name__)

# The window of the send rate limit.
RATE_WINDOW_SECONDS = 60
# After a throttling answer the effective rate is halved for this long (and halved again by a
# new throttling answer meanwhile).
SLOWED_MINUTES = 10
# How long a worker's lease on a connection slot lasts unless renewed (like the message leases).
SLOT_LEASE_SECONDS = 20
# How soon a worker that found every connection slot taken looks again. The holders send what
# is due meanwhile, and look once more when they give the slots back; this covers a holder that
# died, whose slots are free by then.
SLOT_WAIT_SECONDS = SLOT_LEASE_SECONDS
# The first wait between probes of a mail server that cannot be reached, and the longest.
PROBE_FIRST_SECONDS = 2.0
PROBE_MAX_SECONDS = 30.0
# A release whose mail fails again as soon as this makes the next probe wait twice as long.
RELEASE_FAILED_AGAIN_SECONDS = 60


@dataclass(frozen=True)
class SendLimits:
    """The provider's limits: mails a minute and connections at once, None for no limit."""

    per_minute: int | None = None
    connections: int | None = None


_limit_readers: list[Callable[[], SendLimits]] = []


def register_send_limits(reader: Callable[[], SendLimits]) -> Callable[[], SendLimits]:
    """Make `reader` the one that says the installation's send limits (the last registered)."""
    _limit_readers.append(reader)
    return reader


def send_limits() -> SendLimits:
    """Return the send limits in force, read at use time."""
    return _limit_readers[-1]() if _limit_readers else SendLimits()


# The send rate limit.


def _pace_row() -> SendingPause:
    """Return the one SendingPause row, locked for this transaction (created when missing)."""
    SendingPause.objects.bulk_create(
        [SendingPause(pk=1, until=timezone.now() - timedelta(seconds=1))], ignore_conflicts=True
    )
    return SendingPause.objects.select_for_update().get(pk=1)


def effective_rate(
    pause: SendingPause | None, *, now: datetime, limits: SendLimits | None = None
) -> int | None:
    """Return the mails a minute allowed now: the configured limit, lowered while slowed down."""
    rate = (limits or send_limits()).per_minute
    reduced = pause.reduced_rate_per_minute if pause is not None else None
    if reduced and pause is not None and pause.reduced_until and pause.reduced_until > now:
        rate = reduced if rate is None else min(rate, reduced)
    return rate


def sent_in_window(*, now: datetime) -> int:
    """Count the mails that count against the rate now: tried in the last minute, or being sent.

    A mail counts from its claim until a minute after its outcome, so every minute in which the
    server saw it holds it. Outcomes are recorded with their attempt in one transaction.
    """
    since = now - timedelta(seconds=RATE_WINDOW_SECONDS)
    tried = DeliveryAttempt.objects.filter(at__gt=since).count()
    return tried + OutgoingMessage.objects.filter(state=State.SENDING).count()


def _budget_frees_at(*, now: datetime) -> datetime:
    """Return when the window's oldest attempt leaves it (soon, if only sends are in flight)."""
    since = now - timedelta(seconds=RATE_WINDOW_SECONDS)
    oldest = DeliveryAttempt.objects.filter(at__gt=since).aggregate(oldest=Min("at"))["oldest"]
    if oldest is None:
        return now + timedelta(seconds=1)
    frees_at: datetime = oldest + timedelta(seconds=RATE_WINDOW_SECONDS, milliseconds=50)
    return frees_at


@dataclass(frozen=True)
class Budget:
    """How many mails a claim may take now (None: no limit), and when more will be free."""

    available: int | None
    frees_at: datetime | None = None


@dataclass(frozen=True)
class Pace:
    """What a delivery round reads before each claim: a pause, and the rate in force."""

    paused_until: datetime | None
    rate: int | None


def pace_read(limits: SendLimits, *, now: datetime) -> Pace:
    """Return whether sending is paused, and the rate in force, with one read of the pause row."""
    pause = SendingPause.objects.filter(pk=1).first()
    paused_until = pause.until if pause is not None and pause.until > now else None
    return Pace(paused_until, effective_rate(pause, now=now, limits=limits))


def budget_take(limits: SendLimits, *, now: datetime) -> Budget:
    """Return the rate budget left, for a claim in the caller's transaction; call it only when
    `pace_read` found a rate in force.

    It locks the pacing row until the caller's transaction ends, so the workers count and claim
    one after the other.
    """
    pause = _pace_row()
    rate = effective_rate(pause, now=now, limits=limits)
    if rate is None:
        return Budget(available=None)
    available = max(0, rate - sent_in_window(now=now))
    return Budget(available=available, frees_at=None if available else _budget_frees_at(now=now))


def slow_down(*, reason: str, pause_seconds: float) -> datetime:
    """Pause every worker's sending, then halve the effective rate for SLOWED_MINUTES.

    Called for each throttling answer; answers that arrive while the pause lasts (the other
    connections' mail, refused at the same moment) do not halve it again. Return when the pause
    ends.
    """
    now = timezone.now()
    until = now + timedelta(seconds=pause_seconds)
    with transaction.atomic():
        pause = _pace_row()
        new_episode = pause.until <= now
        if new_episode:
            current = effective_rate(pause, now=now)
            # Without a limit, half of what the server answered in the last minute.
            since = now - timedelta(seconds=RATE_WINDOW_SECONDS)
            answered = DeliveryAttempt.objects.filter(at__gt=since).count()
            base = current if current is not None else answered
            pause.reduced_rate_per_minute = max(1, base // 2)
            pause.reduced_until = now + timedelta(minutes=SLOWED_MINUTES)
            pause.throttled_at = now
            logger.warning(
                "The mail server asked to slow down; sending paused for %d s, then at most %d "
                "mails a minute for %d minutes: %s",
                pause_seconds,
                pause.reduced_rate_per_minute,
                SLOWED_MINUTES,
                reason,
            )
        if pause.until < until:
            pause.until = until
        pause.reason = reason
        pause.save()
    return until


def sending_paused_until() -> datetime | None:
    """Return until when sending is paused, or None when it is not."""
    pause = SendingPause.objects.filter(pk=1, until__gt=timezone.now()).first()
    return pause.until if pause else None


# Connection slots.


class ConnectionSlots:
    """The slots one delivery round holds: taken at its start, renewed, given back at its end."""

    def __init__(self, cap: int, wanted: int) -> None:
        self.holder = get_random_string(24)
        self.numbers = _slots_take(self.holder, cap=cap, wanted=wanted)

    def renew(self) -> None:
        if self.numbers:
            ConnectionSlot.objects.filter(holder=self.holder, number__in=self.numbers).update(
                leased_until=timezone.now() + timedelta(seconds=SLOT_LEASE_SECONDS)
            )

    def release(self) -> None:
        if self.numbers:
            ConnectionSlot.objects.filter(holder=self.holder).update(holder="", leased_until=None)
            self.numbers = []


def _slots_take(holder: str, *, cap: int, wanted: int) -> list[int]:
    """Lease up to `wanted` of the free slots numbered 1 to `cap`; return their numbers."""
    ConnectionSlot.objects.bulk_create(
        [ConnectionSlot(number=number) for number in range(1, cap + 1)], ignore_conflicts=True
    )
    now = timezone.now()
    with transaction.atomic():
        free = ConnectionSlot.objects.filter(number__lte=cap).filter(
            Q(leased_until__isnull=True) | Q(leased_until__lt=now)
        )
        free = free.select_for_update(skip_locked=True).order_by("number")
        numbers = list(free.values_list("number", flat=True)[:wanted])
        ConnectionSlot.objects.filter(number__in=numbers).update(
            holder=holder, leased_until=now + timedelta(seconds=SLOT_LEASE_SECONDS)
        )
    return numbers


# The probe of a mail server that cannot be reached.


def outage_begin(*, reason: str) -> None:
    """Note that the mail server could not be reached, so that a worker probes it."""
    now = timezone.now()
    with transaction.atomic():
        ServerOutage.objects.bulk_create(
            [
                ServerOutage(
                    pk=1,
                    since=now,
                    reason=reason,
                    next_probe_at=now + timedelta(seconds=PROBE_FIRST_SECONDS),
                    probe_interval_seconds=PROBE_FIRST_SECONDS,
                )
            ],
            ignore_conflicts=True,
        )
        outage = ServerOutage.objects.select_for_update().get(pk=1)
        if outage.released_at is None:
            if outage.since == now:  # Created just now: the outage begins.
                logger.warning(
                    "The mail server cannot be reached (%s); probing it every few seconds, and "
                    "the waiting mail goes out the moment it answers.",
                    reason,
                )
            return
        # The mail a probe released fails again: probe less often if it did so at once.
        recently = now - outage.released_at < timedelta(seconds=RELEASE_FAILED_AGAIN_SECONDS)
        interval = (
            min(outage.probe_interval_seconds * 2, PROBE_MAX_SECONDS)
            if recently
            else PROBE_FIRST_SECONDS
        )
        outage.released_at = None
        outage.reason = reason
        outage.probe_interval_seconds = interval
        outage.next_probe_at = now + timedelta(seconds=interval)
        outage.save()


def outage_end() -> None:
    """The server accepted mail: the outage, if one was noted, is over."""
    # A read first: nearly always there is none, and a write would queue behind other writers.
    if ServerOutage.objects.filter(pk=1).exists() and ServerOutage.objects.filter(pk=1).delete()[0]:
        logger.warning("The mail server accepts mail again.")


def probe_take(*, now: datetime, timeout_seconds: float) -> ServerOutage | None:
    """Take the turn to probe the mail server when one is due; None when none is (or another
    worker took it)."""
    outage = ServerOutage.objects.filter(
        pk=1, released_at__isnull=True, next_probe_at__lte=now
    ).first()
    if outage is None:
        return None
    # The next probe waits for this one to end; a worker that dies probing delays it no longer.
    taken = ServerOutage.objects.filter(
        pk=1, released_at__isnull=True, next_probe_at=outage.next_probe_at
    ).update(next_probe_at=now + timedelta(seconds=timeout_seconds))
    return outage if taken else None


def probe_failed(outage: ServerOutage) -> None:
    """Wait longer before the next probe (up to PROBE_MAX_SECONDS)."""
    interval = min(outage.probe_interval_seconds * 2, PROBE_MAX_SECONDS)
    ServerOutage.objects.filter(pk=1, released_at__isnull=True).update(
        probe_interval_seconds=interval,
        next_probe_at=timezone.now() + timedelta(seconds=interval),
    )


def probe_later() -> None:
    """Give the probe turn back without one: it is due again at once, at the same interval."""
    ServerOutage.objects.filter(pk=1, released_at__isnull=True).update(next_probe_at=timezone.now())


def probe_answered() -> int:
    """Release every mail that waits for the server, due now; return how many."""
    now = timezone.now()
    with transaction.atomic():
        released = OutgoingMessage.objects.filter(
            waiting_for_server=True, state=State.RETRYING
        ).update(waiting_for_server=False, next_attempt_at=now)
        ServerOutage.objects.filter(pk=1).update(released_at=now)
    return released
