"""The background worker: django-tasks-db's worker plus a heartbeat and a stale-message sweep."""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from . import services

logger = logging.getLogger(__name__)

# Often enough that a dead worker's mail is sent by another within half a minute: its leases
# run out (LEASE_SECONDS) and the next round here schedules them.
HEARTBEAT_SECONDS = 5
PRUNE_EVERY_SECONDS = 60 * 60


def _housekeeping(worker_id: str, stop: threading.Event) -> None:
    pruned_at: float | None = None
    while not stop.is_set():
        try:
            services.worker_heartbeat(worker_id)
            requeued = services.messages_requeue_stale()
            if requeued:
                logger.warning("Rescheduled %d stale messages for delivery", requeued)
            ended = services.tasks_end_orphaned()
            if ended:
                logger.warning("Ended %d tasks left running by stopped workers", ended)
            if pruned_at is None or time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                mail, tasks = services.mail_log_prune()
                if mail or tasks:
                    logger.info("Pruned %d mail-log rows and %d finished tasks", mail, tasks)
        except Exception:  # Keep the worker alive through a database blip.
            logger.exception("Worker housekeeping failed")
        finally:
            close_old_connections()
        stop.wait(HEARTBEAT_SECONDS)


def run_worker(*, interval: float = 1.0, batch: bool = False, worker_id: str | None = None) -> None:
    """Run tasks from every queue until stopped (or, with `batch`, until none are left)."""
    worker_id = worker_id or get_random_string(32)
    stop = threading.Event()
    services.worker_heartbeat(worker_id)
    if batch:
        services.messages_requeue_stale()
    else:
        threading.Thread(
            target=_housekeeping, args=(worker_id, stop), name="housekeeping", daemon=True
        ).start()
    worker = Worker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=not batch,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    if not batch:
        worker.configure_signals()
    logger.info("Worker %s started", worker_id)
    try:
        worker.run()
    finally:
        stop.set()
