"""Reads of the delivery queue, shared by the mail log page, the JSON API, /readyz and /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Min, Q, QuerySet
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autommate.client_address import in_monitoring_network
from autommate.ratelimits import services as ratelimits

from . import pacing
from .models import OutgoingMessage, SendingPause, ServerOutage, State, WorkerHeartbeat
from .services import WORKER_SEEN_WITHIN_SECONDS

# How long background work may wait for a worker before /readyz says not ready.
TASK_WAIT_LIMIT_SECONDS = 120


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
        "retrying": waiting.filter(state=State.RETRYING).count(),
        "failed_24h": recent.filter(state=State.FAILED).count(),
    }


def sending_state() -> dict[str, Any]:
    """Return how fast mail goes out now, for the mail log: the limits, a slow-down after a
    throttling answer, and an outage of the mail server with its probe."""
    now = timezone.now()
    pause = SendingPause.objects.filter(pk=1).first()
    outage = ServerOutage.objects.filter(pk=1, released_at__isnull=True).first()
    slowed = bool(
        pause is not None
        and pause.reduced_rate_per_minute
        and pause.reduced_until
        and pause.reduced_until > now
    )
    return {
        "limits": pacing.send_limits(),
        "paused_until": pause.until if pause is not None and pause.until > now else None,
        "slowed_to": pause.reduced_rate_per_minute if slowed and pause is not None else None,
        "slowed_until": pause.reduced_until if slowed and pause is not None else None,
        "throttled_at": pause.throttled_at if slowed and pause is not None else None,
        "outage_since": outage.since if outage is not None else None,
        "probe_every_seconds": int(outage.probe_interval_seconds) if outage is not None else None,
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
    """Return /readyz's report: ready, degraded or not ready, and why; the counters if `with_queue`.

    Not ready (503) without the database, while no worker has been seen for a minute, or while
    background work (a reset request, a mail) has waited two minutes for one: a user would be
    told a mail is on its way that nothing sends. Degraded (200) while Redis is away (the
    database counts the rate limits meanwhile) and, for those who may see the counters, while
    mail is being retried. What a stranger sees cannot be moved by a request of a stranger.
    """
    try:
        connection.ensure_connection()
        status = queue_status()
        stranded = tasks_waiting_longer_than(TASK_WAIT_LIMIT_SECONDS)
    except DatabaseError:
        return {"status": "not ready", "reason": "The database cannot be reached."}
    seen = status["worker_last_seen_seconds"]
    report: dict[str, Any] = {"status": "ready"}
    if seen is None or seen > WORKER_SEEN_WITHIN_SECONDS:
        report = {
            "status": "not ready",
            "reason": "No worker has been seen for a minute: no mail is being sent.",
        }
    elif stranded:
        report = {
            "status": "not ready",
            "reason": "Background work has waited more than two minutes for a worker.",
        }
    elif ratelimits.redis_reachable() is False:
        report = {
            "status": "degraded",
            "reason": "Redis cannot be reached: rate limits are counted in the database.",
        }
    elif with_queue and status["retrying"]:
        report = {
            "status": "degraded",
            "reason": f"{status['retrying']} mails are being retried: see the mail log.",
        }
    if with_queue:
        report.update(status)
    return report


def tasks_waiting_longer_than(seconds: int) -> int:
    """Count background tasks that could have run `seconds` ago and have not started."""
    cutoff = timezone.now() - timedelta(seconds=seconds)
    return (
        DBTaskResult.objects.filter(status=TaskResultStatus.READY)
        .filter(Q(run_after=get_date_max(), enqueued_at__lt=cutoff) | Q(run_after__lt=cutoff))
        .count()
    )


class QueueCollector(Collector):
    """The mail queue for `/metrics`, read from the database at scrape time (any worker's)."""

    def collect(self) -> Iterator[Metric]:
        status = queue_status()
        yield GaugeMetricFamily(
            "autommate_mail_queue_depth",
            "Mails waiting to be sent: queued, retrying or being sent.",
            value=status["waiting"],
        )
        yield GaugeMetricFamily(
            "autommate_mail_queue_oldest_age_seconds",
            "Seconds the oldest waiting mail has waited (0 when none waits).",
            value=status["oldest_waiting_seconds"],
        )
        if status["worker_last_seen_seconds"] is not None:
            yield GaugeMetricFamily(
                "autommate_worker_last_seen_seconds",
                "Seconds since a task worker was last seen.",
                value=status["worker_last_seen_seconds"],
            )
