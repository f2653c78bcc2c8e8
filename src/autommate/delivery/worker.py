"""The background worker: django-tasks-db's worker plus a heartbeat and a stale-message sweep."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from . import services

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15


def _housekeeping(worker_id: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            services.worker_heartbeat(worker_id)
            requeued = services.messages_requeue_stale()
            if requeued:
                logger.warning("Rescheduled %d stale messages for delivery", requeued)
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
