"""The delivery queue: record outgoing messages, send what is due, retry what failed for now.

A message is recorded in the same transaction as whatever caused it, together with a task that
sends what is due. Workers claim due messages with row locks (SKIP LOCKED where the database
has it), hold them under a lease, and record each acceptance the moment the server gives it.
A worker that dies mid-send leaves the lease behind; once it expires the message is due again.
"""

from __future__ import annotations

import contextlib
import logging
import random
import smtplib
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import mailers
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .attempts import Outcome, attempt_record
from .composers import DoNotSend, compose
from .failures import SendFailure, failure_explain, retry_at
from .models import Kind, OutgoingMessage, State, WorkerHeartbeat

if TYPE_CHECKING:
    from autommate.accounts.models import User

logger = logging.getLogger(__name__)

# How long a worker may hold a claimed message before others may take it over.
LEASE_SECONDS = 120
# How many due messages one worker claims at a time (sent over one SMTP connection).
BATCH_SIZE = 20
RETRY_BASE_SECONDS = 30
RETRY_MAX_DELAY_SECONDS = 60 * 60
WORKER_SEEN_WITHIN_SECONDS = 60


def message_record(
    *,
    kind: Kind,
    recipient: str,
    user: Any = None,
    context: dict[str, Any] | None = None,
) -> OutgoingMessage:
    """Record a message to send and schedule its delivery in the caller's transaction."""
    from .tasks import deliver_due

    with transaction.atomic():
        message = OutgoingMessage.objects.create(
            kind=kind,
            recipient=recipient,
            user=user,
            context=context or {},
            next_attempt_at=timezone.now(),
        )
        deliver_due.enqueue()
    return message


def test_mail_record(
    *,
    recipient: str,
    user: User,
    sent: bool,
    error: str,
    message_id: str,
    step: str,
    reply: str,
) -> OutgoingMessage:
    """Record in the mail log a test mail that was just sent (or failed) through the mail server.

    The test mail does not wait in the queue: it is sent while the administrator waits, and
    recorded here with its outcome, and its one attempt with the failed step and reply.
    """
    now = timezone.now()
    message = OutgoingMessage.objects.create(
        kind=Kind.TEST,
        recipient=recipient,
        user=user,
        state=State.SENT if sent else State.FAILED,
        attempts=1,
        sent_at=now if sent else None,
        last_error=error,
        message_id=message_id[:255],
    )
    attempt_record(
        message,
        outcome=Outcome.SENT if sent else Outcome.FAILED,
        failure=SendFailure(text=error, temporary=False, step=step, reply=reply),
        reply="" if not sent else f"Accepted: {message_id}".strip(),
    )
    return message


def _due() -> Q:
    now = timezone.now()
    return Q(state__in=[State.QUEUED, State.RETRYING, State.SENDING], next_attempt_at__lte=now) & (
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def _claim(limit: int) -> list[OutgoingMessage]:
    with transaction.atomic():
        candidates = OutgoingMessage.objects.filter(_due()).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        claimed = list(candidates[:limit])
        if not claimed:
            return []
        now = timezone.now()
        for message in claimed:
            message.state = State.SENDING
            message.locked_until = now + timedelta(seconds=LEASE_SECONDS)
            message.attempts += 1
        OutgoingMessage.objects.bulk_update(claimed, ["state", "locked_until", "attempts"])
    return claimed


def deliver_due(*, max_messages: int | None = None) -> int:
    """Send every message that is due, batch by batch over one connection; return how many."""
    sent = 0
    handled = 0
    while max_messages is None or handled < max_messages:
        limit = BATCH_SIZE if max_messages is None else min(BATCH_SIZE, max_messages - handled)
        batch = _claim(limit)
        if not batch:
            break
        handled += len(batch)
        sent += _send_batch(batch)
    return sent


def _send_batch(batch: list[OutgoingMessage]) -> int:
    sent = 0
    backend = None
    try:
        try:
            # The default mailer reads the saved mail server, and refuses if there is none.
            backend = mailers.default
            backend.open()  # Opened here, the connection serves the whole batch.
        except Exception as error:
            for message in batch:
                _record_send_error(message, error)
            return 0
        for message in batch:
            if not _renew_lease(message):
                continue  # Held too long: another worker has taken it over.
            try:
                email = compose(message)
            except DoNotSend as reason:
                _record_dropped(message, str(reason))
                continue
            try:
                backend.send_messages([email])
            except Exception as error:  # Any failure of one message is recorded, never raised.
                _record_send_error(message, error)
                _close_quietly(backend)
                _reopen_quietly(backend)
                continue
            # Record the acceptance before anything else can fail, so a retry never resends it.
            _record_sent(message, email.extra_headers.get("Message-ID", ""))
            sent += 1
    except Exception as error:
        logger.exception("Delivery batch failed")
        for message in batch:
            _record_send_error(message, error)  # Only those still held and not yet recorded.
    finally:
        if backend is not None:
            _close_quietly(backend)
    return sent


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


def _reopen_quietly(backend: Any) -> None:
    try:
        backend.open()
    except Exception:  # The next send will open again and record its own error.
        logger.info("Could not reopen the SMTP connection", exc_info=True)


def _close_quietly(backend: Any) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        backend.close()


def _record_sent(message: OutgoingMessage, message_id: str) -> None:
    OutgoingMessage.objects.filter(pk=message.pk).update(
        state=State.SENT,
        sent_at=timezone.now(),
        locked_until=None,
        next_attempt_at=None,
        last_error="",
        message_id=message_id[:255],
    )
    attempt_record(message, outcome=Outcome.SENT, reply=f"Accepted: {message_id}".strip())
    _after_outcome(message, sent=True, error="")


def _record_dropped(message: OutgoingMessage, reason: str) -> None:
    if _held(message).update(
        state=State.FAILED, locked_until=None, next_attempt_at=None, last_error=reason
    ):
        _after_outcome(message, sent=False, error=reason)


def _record_send_error(message: OutgoingMessage, error: BaseException) -> None:
    failure = failure_explain(error)
    _record_failure(message, failure.text, temporary=failure.temporary, failure=failure)


def _record_failure(
    message: OutgoingMessage, text: str, *, temporary: bool, failure: SendFailure | None = None
) -> None:
    now = timezone.now()
    give_up_at = message.created_at + timedelta(hours=settings.DELIVERY_RETRY_HOURS)
    if temporary:
        delay = min(RETRY_BASE_SECONDS * 2 ** max(message.attempts - 1, 0), RETRY_MAX_DELAY_SECONDS)
        next_attempt = now + timedelta(seconds=delay * random.uniform(0.75, 1.25))
        next_attempt = retry_at(failure, now=now, backoff=next_attempt)
        if next_attempt < give_up_at:
            if _held(message).update(
                state=State.RETRYING,
                locked_until=None,
                next_attempt_at=next_attempt,
                last_error=text,
            ):
                attempt_record(
                    message,
                    outcome=Outcome.RETRYING,
                    failure=failure,
                    explanation=text,
                    next_attempt_at=next_attempt,
                )
                from .tasks import deliver_due as deliver_due_task

                deliver_due_task.using(run_after=next_attempt).enqueue()
            return
        text = f"{text} Gave up after {message.attempts} attempts."
    if _held(message).update(
        state=State.FAILED, locked_until=None, next_attempt_at=None, last_error=text
    ):
        attempt_record(message, outcome=Outcome.FAILED, failure=failure, explanation=text)
        _after_outcome(message, sent=False, error=text)


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
    """Schedule delivery for due messages no task is known to cover (after a crash or restart)."""
    from .tasks import deliver_due as deliver_due_task

    stale_before = timezone.now() - timedelta(seconds=LEASE_SECONDS)
    stale = OutgoingMessage.objects.filter(_due()).filter(next_attempt_at__lt=stale_before)
    if stale.exists():
        deliver_due_task.enqueue()
        return stale.count()
    return 0


def worker_heartbeat(worker_id: str) -> None:
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(last_seen_at=now)
    if not updated:
        WorkerHeartbeat.objects.create(
            worker_id=worker_id, hostname=socket.gethostname(), started_at=now, last_seen_at=now
        )
    WorkerHeartbeat.objects.filter(last_seen_at__lt=now - timedelta(days=1)).delete()
