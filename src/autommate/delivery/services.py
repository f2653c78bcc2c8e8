"""The delivery queue: record outgoing messages, send what is due, retry what failed for now.

A message is recorded in the same transaction as whatever caused it, together with a task that
sends what is due. Workers claim due messages with row locks (SKIP LOCKED where the database
has it), hold them under a lease, and record each acceptance the moment the server gives it.
A worker that dies mid-send leaves the lease behind; once it expires the message is due again.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import mailers
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.tasks import TaskResultStatus
from django.utils import timezone, translation

from autommate import metrics
from autommate.sentences import as_data
from autommate.sentences import sentence as _

from . import pacing
from .attempts import Outcome as AttemptOutcome
from .attempts import attempt_record, attempts_record_accepted
from .composers import DoNotSend, compose, composing_round, prepare
from .failures import SendFailure, failure_explain, retry_at
from .models import (
    Kind,
    OutgoingMessage,
    Priority,
    State,
    WorkerHeartbeat,
    priority_of,
)
from .senders import Outcome, SenderPool, Withdrawn

if TYPE_CHECKING:
    from autommate.accounts.models import User

logger = logging.getLogger(__name__)

# How long a worker's claim on a message lasts unless renewed; a dead worker's messages are sent
# by another worker once it has run out.
LEASE_SECONDS = 20
# How often a worker renews its claims while its connections work on them.
LEASE_RENEW_SECONDS = 5
# How often a delivery round reads the send rate limit again, for a change made meanwhile.
LIMITS_RECHECK_SECONDS = 1.0
# How many claimed messages wait for each connection: enough that none idles between claims.
QUEUED_PER_CONNECTION = 2
# How long every worker holds back new mail after a server answered that it is throttling.
THROTTLED_PAUSE_SECONDS = 60
RETRY_BASE_SECONDS = 30
RETRY_MAX_DELAY_SECONDS = 60 * 60
WORKER_SEEN_WITHIN_SECONDS = 60
# A worker whose heartbeat (every HEARTBEAT_SECONDS of worker.py) is older than this is dead:
# the tasks it was running are run again by another.
WORKER_DEAD_AFTER_SECONDS = 20

# Work that other domains turn into messages before each claim of a delivery (recovery: the
# forgot-password requests whose task has not run yet), so that a delivery busy with a backlog
# takes up urgent mail at once. Each callback takes how many items it may handle now.
_before_claim: list[Callable[..., int]] = []
# Set while a delivery runs those callbacks: the messages they record need no delivery task, as
# the running delivery claims them next.
_in_delivery: contextvars.ContextVar[bool] = contextvars.ContextVar("in_delivery", default=False)


def register_before_claim(callback: Callable[..., int]) -> None:
    """Have `callback(limit=N)` run before each claim of a delivery; it returns how many it did."""
    if callback not in _before_claim:
        _before_claim.append(callback)


def message_record(
    *,
    kind: Kind,
    recipient: str,
    user: Any = None,
    context: dict[str, Any] | None = None,
    priority: Priority | None = None,
    mailer: str = "",
) -> OutgoingMessage:
    """Record a message to send and schedule its delivery in the caller's transaction.

    Its `priority` follows from its kind (`priority_of`) unless given: a sender of bulk mail of an
    otherwise urgent kind passes `Priority.BACKLOG`. `mailer` names the MAILERS alias to send
    it with, for a message that must not take the default way.
    """
    from .tasks import deliver_due

    with transaction.atomic():
        message = OutgoingMessage.objects.create(
            kind=kind,
            recipient=recipient,
            user=user,
            context=context or {},
            priority=priority_of(kind) if priority is None else priority,
            next_attempt_at=timezone.now(),
            mailer=mailer,
        )
        if not _in_delivery.get():
            deliver_due.enqueue()
    return message


@dataclass(frozen=True)
class NewMessage:
    """A message for `messages_record`: the arguments of `message_record`."""

    kind: Kind
    recipient: str
    user: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    priority: Priority | None = None
    mailer: str = ""


def messages_record(messages: list[NewMessage]) -> list[OutgoingMessage]:
    """Record several messages at once, as `message_record` records one, with one insert and
    at most one delivery task."""
    from .tasks import deliver_due

    if not messages:
        return []
    now = timezone.now()
    with transaction.atomic():
        recorded = OutgoingMessage.objects.bulk_create(
            [
                OutgoingMessage(
                    kind=new.kind,
                    recipient=new.recipient,
                    user=new.user,
                    context=new.context,
                    priority=priority_of(new.kind) if new.priority is None else new.priority,
                    next_attempt_at=now,
                    mailer=new.mailer,
                )
                for new in messages
            ]
        )
        if not _in_delivery.get():
            deliver_due.enqueue()
    return recorded


def test_mail_record(
    *,
    recipient: str,
    user: User,
    sent: bool,
    error: str,
    message_id: str,
    step: str,
    reply: str,
    words: dict[str, Any],
) -> OutgoingMessage:
    """Record in the mail log a test mail that was just sent (or failed) through the mail server.

    The test mail does not wait in the queue: it is sent while the administrator waits, and
    recorded here with its outcome, and its one attempt with the failed step and reply.
    """
    now = timezone.now()
    metrics.MAILS.labels(kind=Kind.TEST.value, outcome="sent" if sent else "failed").inc()
    message = OutgoingMessage.objects.create(
        kind=Kind.TEST,
        recipient=recipient,
        user=user,
        state=State.SENT if sent else State.FAILED,
        attempts=1,
        sent_at=now if sent else None,
        last_error=error,
        last_error_words=words or {},
        message_id=message_id[:255],
    )
    attempt_record(
        message,
        outcome=AttemptOutcome.SENT if sent else AttemptOutcome.FAILED,
        failure=SendFailure(text=error, temporary=False, step=step, reply=reply, words=words or {}),
        reply="" if not sent else f"Accepted: {message_id}".strip(),
    )
    return message


def _due() -> Q:
    now = timezone.now()
    return Q(state__in=[State.QUEUED, State.RETRYING, State.SENDING], next_attempt_at__lte=now) & (
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def _claim(
    limit: int, *, limits: pacing.SendLimits | None = None, rated: bool = False
) -> tuple[list[OutgoingMessage], datetime | None]:
    """Claim up to `limit` due messages, most urgent first, within the send rate budget when
    `rated` (a rate is in force).

    Return the claimed messages, and when the budget is spent while mail is due, when it frees
    up (None otherwise).
    """
    with transaction.atomic():
        now = timezone.now()
        if rated:
            budget = pacing.budget_take(limits or pacing.send_limits(), now=now)
        else:
            budget = pacing.Budget(available=None)
        # The recipient's account comes with the claim: every composer checks it.
        candidates = (
            OutgoingMessage.objects.filter(_due())
            .select_related("user")
            .order_by("priority", "next_attempt_at", "id")
        )
        if budget.available == 0:
            return [], budget.frees_at if candidates.exists() else None
        if budget.available is not None:
            limit = min(limit, budget.available)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        claimed = list(candidates[:limit])
        if not claimed:
            return [], None
        locked_until = now + timedelta(seconds=LEASE_SECONDS)
        # One statement for the whole claim: the rows are this transaction's (locked, or on
        # SQLite behind the write lock it took at its start), so each row's count is the one
        # just read.
        OutgoingMessage.objects.filter(pk__in=[message.pk for message in claimed]).update(
            state=State.SENDING, locked_until=locked_until, attempts=F("attempts") + 1
        )
        for message in claimed:
            message.state = State.SENDING
            message.locked_until = locked_until
            message.attempts += 1
    return claimed, None


def _deliver_later(at: datetime) -> None:
    """Schedule a delivery round for `at`, unless one is already scheduled before it.

    Every queued mail enqueued a round of its own; without this, each of them that finds the
    budget spent would schedule another, and a backlog would keep as many rounds waiting.
    """
    from django_tasks_db.models import DBTaskResult

    from .tasks import deliver_due as deliver_due_task

    scheduled = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY,
        task_path=deliver_due_task.module_path,
        run_after__gt=timezone.now(),
        run_after__lte=at,
    )
    if not scheduled.exists():
        deliver_due_task.using(run_after=at).enqueue()


def deliver_due(*, max_messages: int | None = None) -> int:
    """Send every message that is due over the worker's connections at once; return how many.

    Claims are taken a few messages per connection at a time, so a message that becomes due
    meanwhile, or one more urgent, waits for at most one claim. With a send rate limit, what the
    budget does not cover waits for a later round, scheduled for when the budget frees up (the
    worker meanwhile runs its other tasks); with a connection cap, the round sends over the
    connection slots it could lease, or, with none free, leaves the mail to the rounds that hold
    them (which look once more after giving them back). The limits are read again every
    LIMITS_RECHECK_SECONDS: a new rate applies from the next claim; a new connection cap ends
    the round once its mail in flight has an outcome, and the next round opens its connections
    under the new cap.
    """
    connections = settings.DELIVERY_CONNECTIONS
    slots: pacing.ConnectionSlots | None = None
    limits = pacing.send_limits()
    limits_read_at = time.monotonic()
    capped_anew = False  # The cap changed: this round stops claiming and ends.
    cap = limits.connections
    if cap is not None:
        if not OutgoingMessage.objects.filter(_due()).exists():
            return 0
        slots = pacing.ConnectionSlots(cap=cap, wanted=min(connections, cap))
        if not slots.numbers:
            _deliver_later(timezone.now() + timedelta(seconds=pacing.SLOT_WAIT_SECONDS))
            return 0
        connections = len(slots.numbers)
    handled = 0
    budget_frees_at: datetime | None = None
    with _Delivery(connections, slots) as delivery:
        while True:
            if not capped_anew and time.monotonic() - limits_read_at >= LIMITS_RECHECK_SECONDS:
                current = pacing.send_limits()
                limits_read_at = time.monotonic()
                capped_anew = current.connections != limits.connections
                limits = current
            room = connections * QUEUED_PER_CONNECTION - delivery.in_flight
            if max_messages is not None:
                room = min(room, max_messages - handled)
            # Claim again once half the connections have nothing waiting: fewer, larger claims.
            claim_now = not capped_anew and (
                room >= connections or (room > 0 and not delivery.in_flight)
            )
            batch: list[OutgoingMessage] = []
            if claim_now:
                pace = pacing.pace_read(limits, now=timezone.now())
                if pace.paused_until is None:
                    _prepare(limit=room)
                    batch, budget_frees_at = _claim(
                        room, limits=limits, rated=pace.rate is not None
                    )
            if batch:
                handled += len(batch)
                delivery.submit(batch, fresh=True)
            elif not delivery.in_flight:
                break
            delivery.wait_for_outcomes()
    if budget_frees_at is not None:
        _deliver_later(budget_frees_at)
    elif (slots is not None or capped_anew) and OutgoingMessage.objects.filter(_due()).exists():
        # Mail that became due while this round was closing its connections: another worker
        # may have found every slot taken just then. After a new cap, the rest of the mail.
        from .tasks import deliver_due as deliver_due_task

        deliver_due_task.enqueue()
    return delivery.sent


def _prepare(*, limit: int) -> None:
    """Let other domains record the urgent messages of work still waiting for its task."""
    token = _in_delivery.set(True)
    try:
        for callback in _before_claim:
            try:
                callback(limit=limit)
            except DatabaseError:
                raise
            except Exception:  # The work's own task does it later; delivery goes on.
                logger.exception("Could not prepare messages before a claim")
    finally:
        _in_delivery.reset(token)


def _send_batch(batch: list[OutgoingMessage]) -> int:
    """Send messages claimed earlier, checking first that each claim still stands."""
    with _Delivery(settings.DELIVERY_CONNECTIONS, None) as delivery:
        delivery.submit(batch, fresh=False)
        while delivery.in_flight:
            delivery.wait_for_outcomes()
    return delivery.sent


class _Delivery:
    """The messages a worker has claimed and handed to its connections, until each has an outcome.

    Everything that touches the database happens here, on the worker's thread; the senders only
    talk SMTP. While connections work, the claims on the messages are renewed every
    LEASE_RENEW_SECONDS, so a worker that is alive keeps them and a dead one loses them within
    LEASE_SECONDS.
    """

    def __init__(self, connections: int, slots: pacing.ConnectionSlots | None) -> None:
        self.connections = connections
        self.slots = slots
        self.sent = 0
        # One pool of connections per mailer: the default's `connections`, one for any other.
        self._pools: dict[str, SenderPool] = {}
        self._pool_of: dict[int, SenderPool] = {}
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._held: dict[int, OutgoingMessage] = {}
        self._lost: dict[int, OutgoingMessage] = {}
        self._renewed_at = time.monotonic()

    def __enter__(self) -> _Delivery:
        self._round = composing_round()
        self._round.__enter__()
        return self

    def __exit__(self, error_type: type[BaseException] | None, error: Any, tb: Any) -> None:
        try:
            self._finish(error)
        finally:
            self._round.__exit__(None, None, None)
            if self.slots is not None:  # The connections are closed: the slots are free.
                try:
                    self.slots.release()
                except DatabaseError:  # Their leases run out by themselves.
                    if not isinstance(error, DatabaseError):
                        raise

    def _finish(self, error: BaseException | None) -> None:
        if not self._pools:
            return
        if error is not None:
            for pk in self._held:  # What no connection has started on stays for a retry.
                self._pool_withdraw(pk)
        for pool in self._pools.values():
            pool.close()
        if error is not None and isinstance(error, DatabaseError):
            # The database went away in the middle of the round: one line, no traceback (the
            # worker says when it answers again). What the server accepted is still recorded, as
            # those writes retry through an outage; the rest is sent again after its lease.
            logger.warning(
                "Delivery stopped: the database cannot be reached (%s: %s); claimed mail is "
                "sent after its lease.",
                type(error).__name__,
                error,
            )
            with contextlib.suppress(DatabaseError):
                self._record_outcomes(block=False)
            self._held.clear()
            return
        if error is not None:
            logger.error("Delivery failed", exc_info=error)
            self._record_outcomes(block=False)
            for message in self._held.values():
                _record_send_error(message, error)  # Only those still held and not yet recorded.
            self._held.clear()

    @property
    def in_flight(self) -> int:
        return len(self._held)

    def submit(self, batch: list[OutgoingMessage], *, fresh: bool) -> None:
        """Compose each claimed message and hand it to the next free connection.

        A `fresh` claim was taken just now; an older one is renewed first, and a message whose
        claim has passed to another worker is left to it.
        """
        if fresh:
            prepare(batch)  # What the composers can do for the whole batch at once.
        for message in batch:
            if not fresh and not _renew_lease(message):
                continue  # Held too long: another worker has taken it over.
            try:
                email = compose(message)
            except DoNotSend as reason:
                _record_dropped(message, str(reason))
                continue
            except Exception as error:
                logger.exception("Could not compose message %s", message.pk)
                _record_send_error(message, error)
                continue
            try:
                pool = self._pool_for(message.mailer)
            except Exception as error:
                _record_send_error(message, error)
                continue
            self._held[message.pk] = message
            self._pool_of[message.pk] = pool
            pool.submit(message.pk, email)

    def _pool_for(self, mailer: str) -> SenderPool:
        """Return the connections of `mailer` (a MAILERS alias; empty for the default), opened
        when first needed. The default mailer reads the saved mail server, and refuses if there
        is none."""
        pool = self._pools.get(mailer)
        if pool is None:
            size, open_backend = (
                (self.connections, lambda: mailers.default)
                if not mailer
                else (1, lambda: mailers[mailer])
            )
            pool = SenderPool(size, open_backend, outcomes=self._outcomes)
            self._pools[mailer] = pool
        return pool

    def wait_for_outcomes(self) -> None:
        """Record what the connections report, and renew claims that are due for it."""
        if self._held:
            self._record_outcomes(block=True)
        if time.monotonic() - self._renewed_at >= LEASE_RENEW_SECONDS:
            self._renew()

    def _record_outcomes(self, *, block: bool) -> None:
        try:
            outcome = self._outcomes.get(timeout=LEASE_RENEW_SECONDS if block else 0)
        except queue.Empty:
            return
        outcomes = [outcome]
        while True:
            try:
                outcomes.append(self._outcomes.get_nowait())
            except queue.Empty:
                break
        # The acceptances first, and those in hand together: each is recorded at once, so that
        # a retry never sends it again.
        accepted = [outcome for outcome in outcomes if outcome.error is None]
        if accepted:
            self._record_accepted(accepted)
        for outcome in outcomes:
            if outcome.error is not None:
                self._record(outcome)

    def _take_back(self, outcome: Outcome) -> tuple[OutgoingMessage, bool]:
        """Return the message of `outcome`, and whether its claim was lost meanwhile."""
        lost = outcome.pk in self._lost
        message = self._lost.pop(outcome.pk) if lost else self._held.pop(outcome.pk)
        self._pool_of.pop(outcome.pk, None)
        return message, lost

    def _record_accepted(self, outcomes: list[Outcome]) -> None:
        accepted = [(self._take_back(outcome)[0], outcome) for outcome in outcomes]
        try:
            _acceptances_write(accepted)
        except Exception:  # Logged with each Message-ID; the other outcomes are still recorded.
            logger.exception(
                "Could not record the acceptance of messages %s",
                ", ".join(str(message.pk) for message, _outcome in accepted),
            )
            return
        if not self.sent:
            pacing.outage_end()  # The server answers: any outage noted is over.
        self.sent += len(accepted)
        for message, _outcome in accepted:
            try:
                _after_sent(message)
            except Exception:  # One message's bookkeeping must not stop the others.
                logger.exception("Could not record the outcome of message %s", message.pk)

    def _record(self, outcome: Outcome) -> None:
        """Record an outcome other than an acceptance: a withdrawal or a failure."""
        message, lost = self._take_back(outcome)
        try:
            if isinstance(outcome.error, Withdrawn):
                if not lost:
                    _release(message, at=sending_paused_until() or timezone.now())
            elif outcome.error is not None:
                _record_send_error(message, outcome.error)
                if sending_paused_until():
                    # The server asked to slow down: what waits for a connection waits longer.
                    for pk in self._held:
                        self._pool_withdraw(pk)
        except Exception:  # One message's bookkeeping must not stop the others.
            logger.exception("Could not record the outcome of message %s", message.pk)

    def _pool_withdraw(self, pk: int) -> None:
        pool = self._pool_of.get(pk)
        if pool is not None:
            pool.withdraw(pk)

    def _renew(self) -> None:
        self._renewed_at = time.monotonic()
        if self.slots is not None:
            self.slots.renew()
        if not self._held:
            return
        still_held = _renew_leases(list(self._held.values()))
        for pk in set(self._held) - still_held:
            self._pool_withdraw(pk)  # Another worker has taken it over.
            self._lost[pk] = self._held.pop(pk)


def _held(message: OutgoingMessage) -> Any:
    """Return the message's row while this worker's claim on it stands.

    Every claim counts an attempt, so a worker that took the message over after this worker's
    lease ran out has changed `attempts`, and this worker's updates then match nothing.
    """
    return OutgoingMessage.objects.filter(
        pk=message.pk, state=State.SENDING, attempts=message.attempts
    )


def _renew_lease(message: OutgoingMessage) -> bool:
    """Extend this worker's lease just before sending; say whether the message is still held.

    A batch over a slow server can outlast the lease taken when it was claimed; without this,
    another worker could take over a message this worker is about to send, and both would.
    """
    locked_until = timezone.now() + timedelta(seconds=LEASE_SECONDS)
    return bool(_held(message).update(locked_until=locked_until))


def _renew_leases(messages: list[OutgoingMessage]) -> set[int]:
    """Extend this worker's leases on `messages`; return the ids of those it still holds."""
    held = Q(pk__in=[])
    for message in messages:
        held |= Q(pk=message.pk, attempts=message.attempts)
    rows = OutgoingMessage.objects.filter(held, state=State.SENDING)
    rows.update(locked_until=timezone.now() + timedelta(seconds=LEASE_SECONDS))
    return set(rows.values_list("pk", flat=True))


# How long the record of an accepted mail is retried through a database blip, and the longest
# pause between tries. A lost record would have the mail sent again once its lease ran out.
ACCEPTANCE_RETRY_SECONDS = 60.0
ACCEPTANCE_RETRY_MAX_PAUSE = 2.0


def _after_sent(message: OutgoingMessage) -> None:
    metrics.MAILS.labels(kind=message.kind, outcome="sent").inc()
    metrics.MAIL_DELIVERY_SECONDS.labels(kind=message.kind).observe(_waited_seconds(message))
    _after_outcome(message, sent=True, error="")


def _acceptances_write(accepted: list[tuple[OutgoingMessage, Outcome]]) -> None:
    """Record that the server accepted each message, retrying through a database blip.

    The mails are in the server's hands: if this record were lost, another worker would send
    them again after the lease. So the write is tried again, with growing pauses and a fresh
    connection, for up to ACCEPTANCE_RETRY_SECONDS, and only then given up on (logged with the
    Message-IDs, so that an operator can tell the duplicates). Acceptances that arrived together
    are written in one transaction: nothing but other acceptances ever shares it.
    """
    deadline = time.monotonic() + ACCEPTANCE_RETRY_SECONDS
    pause = 0.1
    while True:
        try:
            # With their attempts, in one transaction: the send rate limit counts a mail as
            # being sent until its attempt is recorded, and never misses it in between.
            with transaction.atomic():
                now = timezone.now()
                for message, outcome in accepted:
                    OutgoingMessage.objects.filter(pk=message.pk).update(
                        state=State.SENT,
                        sent_at=now,
                        locked_until=None,
                        next_attempt_at=None,
                        last_error="",
                        message_id=outcome.message_id[:255],
                        waiting_for_server=False,
                    )
                attempts_record_accepted(
                    [
                        (message, f"Accepted: {outcome.message_id}".strip(), outcome.sent_through)
                        for message, outcome in accepted
                    ]
                )
            return
        except DatabaseError:
            if time.monotonic() + pause > deadline:
                for message, outcome in accepted:
                    logger.error(
                        "Message %s was accepted as %s but could not be recorded as sent; it "
                        "may be sent again.",
                        message.pk,
                        outcome.message_id or "(no Message-ID)",
                    )
                raise
            if not connection.in_atomic_block:
                connection.close()  # The next try opens a new connection.
            time.sleep(pause)
            pause = min(pause * 2, ACCEPTANCE_RETRY_MAX_PAUSE)


def _record_dropped(message: OutgoingMessage, reason: str) -> None:
    if _held(message).update(
        state=State.FAILED, locked_until=None, next_attempt_at=None, last_error=reason
    ):
        metrics.MAILS.labels(kind=message.kind, outcome="dropped").inc()
        _after_outcome(message, sent=False, error=reason)


def _record_send_error(message: OutgoingMessage, error: BaseException) -> None:
    failure = failure_explain(error)
    if failure.throttled:
        _record_throttled(message, failure.text, words=failure.words)
        return
    _record_failure(message, failure.text, temporary=failure.temporary, failure=failure)


def _release(message: OutgoingMessage, *, at: datetime) -> None:
    """Give up this worker's claim on a message it did not try to send, at no cost to it."""
    _held(message).update(
        state=State.RETRYING if message.attempts > 1 else State.QUEUED,
        attempts=message.attempts - 1,
        locked_until=None,
        next_attempt_at=at,
    )


def _record_throttled(
    message: OutgoingMessage, text: str, *, words: dict[str, Any] | None = None
) -> None:
    """Slow all sending down and put the message back, without costing it an attempt."""
    until = sending_pause(reason=text)
    if _held(message).update(
        state=State.RETRYING,
        attempts=message.attempts - 1,
        locked_until=None,
        next_attempt_at=until,
        last_error=text,
        last_error_words=words or {},
    ):
        from .tasks import deliver_due as deliver_due_task

        deliver_due_task.using(run_after=until).enqueue()


def sending_pause(*, reason: str) -> datetime:
    """Hold back every worker's new mail for THROTTLED_PAUSE_SECONDS, then send at half the rate
    for a few minutes (`pacing.slow_down`); return when the pause ends."""
    return pacing.slow_down(reason=reason, pause_seconds=THROTTLED_PAUSE_SECONDS)


def sending_paused_until() -> datetime | None:
    """Return until when sending is paused, or None when it is not."""
    return pacing.sending_paused_until()


def _record_failure(
    message: OutgoingMessage, text: str, *, temporary: bool, failure: SendFailure | None = None
) -> None:
    now = timezone.now()
    words = dict(failure.words) if failure else {}
    give_up_at = message.created_at + timedelta(hours=settings.DELIVERY_RETRY_HOURS)
    if temporary:
        delay = min(RETRY_BASE_SECONDS * 2 ** max(message.attempts - 1, 0), RETRY_MAX_DELAY_SECONDS)
        next_attempt = now + timedelta(seconds=delay * random.uniform(0.75, 1.25))
        next_attempt = retry_at(failure, now=now, backoff=next_attempt)
        outage = failure is not None and failure.outage
        if next_attempt < give_up_at:
            # The row and its attempt together, as the send rate limit counts them.
            with transaction.atomic():
                retried = _held(message).update(
                    state=State.RETRYING,
                    locked_until=None,
                    last_error_words=words,
                    next_attempt_at=next_attempt,
                    last_error=text,
                    waiting_for_server=outage,
                )
                if retried:
                    attempt_record(
                        message,
                        outcome=AttemptOutcome.RETRYING,
                        failure=failure,
                        explanation=text,
                        explanation_words=words,
                        next_attempt_at=next_attempt,
                    )
            if retried:
                if outage:
                    # The backoff stays as a fallback; a probe releases the mail sooner.
                    pacing.outage_begin(reason=text)
                from .tasks import deliver_due as deliver_due_task

                deliver_due_task.using(run_after=next_attempt).enqueue()
                metrics.MAILS.labels(kind=message.kind, outcome="retried").inc()
            return
        # Stored in English, the source, like the explanation it follows.
        with translation.override("en"):
            gave_up = _("Gave up after %(attempts)s attempts.") % {"attempts": message.attempts}
        text = f"{text} {gave_up}"
        if words:
            words["gave_up"] = as_data(gave_up)
    with transaction.atomic():
        failed = _held(message).update(
            state=State.FAILED,
            locked_until=None,
            next_attempt_at=None,
            last_error=text,
            last_error_words=words,
            waiting_for_server=False,
        )
        if failed:
            attempt_record(
                message,
                outcome=AttemptOutcome.FAILED,
                failure=failure,
                explanation=text,
                explanation_words=words,
            )
    if failed:
        metrics.MAILS.labels(kind=message.kind, outcome="failed").inc()
        _after_outcome(message, sent=False, error=text)


# A probe waits at most this long for the server (the connection's own timeout may be shorter).
PROBE_TIMEOUT_SECONDS = 30


def server_probe() -> int | None:
    """Probe the mail server when an outage is noted and a probe is due; release the waiting mail
    the moment it answers.

    The probe is the start of a real delivery: connect, greet, TLS and log in as configured, then
    QUIT, through the same mail backend. Return how many mails were released, or None when no
    probe ran (none due, or another worker's turn).
    """
    outage = pacing.probe_take(now=timezone.now(), timeout_seconds=PROBE_TIMEOUT_SECONDS)
    if outage is None:
        return None
    # The probe is a connection like any other: within the connection cap, if there is one.
    cap = pacing.send_limits().connections
    slots = pacing.ConnectionSlots(cap=cap, wanted=1) if cap is not None else None
    if slots is not None and not slots.numbers:
        pacing.probe_later()  # Every connection is in use: the next tick tries again.
        return None
    try:
        backend = mailers.default
        backend.open()
        backend.close()
    except Exception:  # Still away, or not configured yet: try again after a longer wait.
        pacing.probe_failed(outage)
        return None
    finally:
        if slots is not None:
            slots.release()
    released = pacing.probe_answered()
    logger.warning("The mail server answers again; %d mails waiting for it are sent now.", released)
    if released:
        from .tasks import deliver_due as deliver_due_task

        deliver_due_task.enqueue()
    return released


def _waited_seconds(message: OutgoingMessage) -> float:
    """Return how long `message` took from the request that caused it to its acceptance."""
    requested = message.created_at
    with contextlib.suppress(KeyError, TypeError, ValueError):
        # A reset mail is recorded by the worker; the user asked when the request was stored.
        requested = datetime.fromisoformat(message.context["requested_at"])
    return max(0.0, (timezone.now() - requested).total_seconds())


def _after_outcome(message: OutgoingMessage, *, sent: bool, error: str) -> None:
    if message.kind == Kind.RESET:
        from autommate.audit.models import Action
        from autommate.audit.services import audit_record

        audit_record(
            Action.RESET_MAIL_SENT if sent else Action.RESET_MAIL_FAILED,
            target=message.recipient,
            message=message.pk,
            **({"error": error} if error else {}),
        )


def messages_requeue_stale() -> int:
    """Schedule delivery for due messages no task is known to cover (after a crash or restart).

    A message held by a worker that died is due the moment its lease runs out; one waiting in
    the queue longer than a lease has lost its task. Delivery is scheduled once: not while a
    delivery task is already waiting to run.
    """
    from django_tasks_db.models import DBTaskResult

    from .tasks import deliver_due as deliver_due_task

    now = timezone.now()
    stale_before = now - timedelta(seconds=LEASE_SECONDS)
    stale = OutgoingMessage.objects.filter(_due()).filter(
        Q(state=State.SENDING) | Q(next_attempt_at__lt=stale_before)
    )
    count = stale.count()
    if count:
        waiting = DBTaskResult.objects.ready().filter(task_path=deliver_due_task.module_path)
        if not waiting.exists():
            deliver_due_task.enqueue()
    return count


def mail_log_prune() -> tuple[int, int]:
    """Delete sent and failed mail, and finished tasks, older than MAIL_LOG_DAYS.

    Return how many mail-log rows and task rows went.
    """
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=settings.MAIL_LOG_DAYS)
    mail, _ = OutgoingMessage.objects.filter(
        state__in=[State.SENT, State.FAILED], created_at__lt=cutoff
    ).delete()
    tasks, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    return mail, tasks


def tasks_requeue_orphaned(*, worker_id: str | None = None) -> int:
    """Run again the background tasks whose worker died while running them; return how many.

    A worker killed mid-task (or one whose database went away while it recorded the outcome)
    leaves its task RUNNING for ever, and the reset request or mail behind it is never handled.
    Every task of the product can run again safely: each one checks under a row lock whether
    its work is done. A worker counts as dead once its heartbeat is older than
    WORKER_DEAD_AFTER_SECONDS; `worker_id` also requeues that (living) worker's own running
    tasks, for a worker that knows it is running none.
    """
    from django_tasks_db.models import DBTaskResult

    alive = set(
        WorkerHeartbeat.objects.filter(
            last_seen_at__gte=timezone.now() - timedelta(seconds=WORKER_DEAD_AFTER_SECONDS)
        ).values_list("worker_id", flat=True)
    )
    alive.discard(worker_id or "")
    dead_before = timezone.now() - timedelta(seconds=WORKER_DEAD_AFTER_SECONDS)
    running = DBTaskResult.objects.running().only("pk", "worker_ids")
    if worker_id is None:
        running = running.filter(started_at__lt=dead_before)
    orphaned = [
        task.pk for task in running if not task.worker_ids or task.worker_ids[-1] not in alive
    ]
    if not orphaned:
        return 0
    return (
        DBTaskResult.objects.running()
        .filter(pk__in=orphaned)
        .update(status=TaskResultStatus.READY, started_at=None)
    )


def worker_heartbeat(worker_id: str) -> None:
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(last_seen_at=now)
    if not updated:
        WorkerHeartbeat.objects.create(
            worker_id=worker_id, hostname=socket.gethostname(), started_at=now, last_seen_at=now
        )
    WorkerHeartbeat.objects.filter(last_seen_at__lt=now - timedelta(days=1)).delete()
