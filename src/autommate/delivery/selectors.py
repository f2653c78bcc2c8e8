"""Reads of the delivery queue, shared by the mail log page, the JSON API and /readyz."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Min, QuerySet
from django.utils import timezone

from autommate.client_address import in_monitoring_network

from .models import OutgoingMessage, State, WorkerHeartbeat
from .services import WORKER_SEEN_WITHIN_SECONDS


def message_list(
    *,
    kind: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[OutgoingMessage]:
    """Return outgoing mails, newest first, narrowed to those matching every filter given.

    `since` includes mails created at that moment, `until` excludes them.
    """
    # Each with its attempts, oldest first, for the history the mail log shows.
    messages = OutgoingMessage.objects.prefetch_related("attempt_history")
    if kind is not None:
        messages = messages.filter(kind=kind)
    if state is not None:
        messages = messages.filter(state=state)
    if since is not None:
        messages = messages.filter(created_at__gte=since)
    if until is not None:
        messages = messages.filter(created_at__lt=until)
    return messages


def queue_status() -> dict[str, Any]:
    """Return what /readyz and the mail log report about the queue."""
    now = timezone.now()
    waiting = OutgoingMessage.objects.filter(
        state__in=[State.QUEUED, State.RETRYING, State.SENDING]
    )
    oldest = waiting.aggregate(oldest=Min("created_at"))["oldest"]
    last_seen = (
        WorkerHeartbeat.objects.order_by("-last_seen_at")
        .values_list("last_seen_at", flat=True)
        .first()
    )
    day_ago = now - timedelta(hours=24)
    recent = OutgoingMessage.objects.filter(created_at__gte=day_ago)
    return {
        "waiting": waiting.count(),
        "oldest_waiting_seconds": int((now - oldest).total_seconds()) if oldest else 0,
        "worker_last_seen_seconds": int((now - last_seen).total_seconds()) if last_seen else None,
        "sent_24h": recent.filter(state=State.SENT).count(),
        "failed_24h": recent.filter(state=State.FAILED).count(),
    }


def queue_counters_visible(*, user: Any, client_address: str) -> bool:
    """Say whether an answer to this caller may carry the queue's counters.

    They are for administrators and monitoring networks only: a reset request for an address with
    an account moves them a few seconds later, one for an unknown address moves nothing, so shown
    to anyone they would tell which addresses have accounts.
    """
    if getattr(user, "is_admin", False) and getattr(user, "is_active", False):
        return True
    return in_monitoring_network(client_address)


def readiness(*, with_queue: bool) -> dict[str, Any]:
    """Return /readyz's report: ready, or not ready and why; the queue's counters if `with_queue`.

    Not ready without the database, or while mail waits and no worker has been seen for a minute.
    Without the counters the report says nothing that a request of a stranger can move.
    """
    try:
        connection.ensure_connection()
        status = queue_status()
    except DatabaseError:
        return {"status": "not ready", "reason": "The database cannot be reached."}
    seen = status["worker_last_seen_seconds"]
    worker_missing = seen is None or seen > WORKER_SEEN_WITHIN_SECONDS
    report: dict[str, Any] = {"status": "ready"}
    if status["waiting"] and worker_missing:
        report = {
            "status": "not ready",
            "reason": "Mail is waiting and no worker has been seen for a minute.",
        }
    if with_queue:
        report.update(status)
    return report
