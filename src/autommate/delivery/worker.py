"""The background worker: django-tasks-db's worker plus a heartbeat and a stale-message sweep."""

from __future__ import annotations

import logging
import threading
import time

from django.db import DatabaseError, close_old_connections, connection, connections
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from . import services
from .periodic import PeriodicRunner

logger = logging.getLogger(__name__)

# Often enough that a dead worker's mail is sent by another within half a minute: its leases
# run out (LEASE_SECONDS) and the next round here schedules them.
HEARTBEAT_SECONDS = 5
PRUNE_EVERY_SECONDS = 60 * 60


# Waits between attempts to reach a database that went away: short at first, then at most this.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


def _housekeeping(worker_id: str, stop: threading.Event) -> None:
    pruned_at: float | None = None
    periodic = PeriodicRunner()
    while not stop.is_set():
        try:
            services.worker_heartbeat(worker_id)
            requeued = services.messages_requeue_stale()
            if requeued:
                logger.warning("Rescheduled %d stale messages for delivery", requeued)
            orphaned = services.tasks_requeue_orphaned()
            if orphaned:
                logger.warning("Requeued %d tasks left running by a worker that died", orphaned)
            if pruned_at is None or time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                mail, tasks = services.mail_log_prune()
                if mail or tasks:
                    logger.info("Pruned %d mail-log rows and %d finished tasks", mail, tasks)
            # The jobs other domains registered (periodic.py), each at its own interval.
            periodic.run_due()
        except DatabaseError:
            pass  # The worker's loop says once that the database is away, and when it is back.
        except Exception:  # Keep the worker alive through anything else, and say what it was.
            logger.exception("Worker housekeeping failed")
        finally:
            close_old_connections()
        stop.wait(HEARTBEAT_SECONDS)


# How often a worker looks whether the mail server, known to be away, is due for a probe.
PROBE_TICK_SECONDS = 1.0


def _probing(stop: threading.Event) -> None:
    """Probe the mail server while it is known to be away, and release the waiting mail.

    Its own thread, so that a probe waiting for a silent server delays no heartbeat.
    """
    while not stop.wait(PROBE_TICK_SECONDS):
        try:
            services.server_probe()
        except DatabaseError:
            pass  # The worker's loop says once that the database is away, and when it is back.
        except Exception:  # Keep probing through anything else, and say what it was.
            logger.exception("Probing the mail server failed")
        finally:
            close_old_connections()


def _wait_for_database(error: DatabaseError, stop: threading.Event) -> None:
    """Log one line, then wait with growing pauses until the database answers; log one more."""
    logger.warning(
        "The database cannot be reached (%s: %s); waiting for it to return.",
        error.__class__.__name__,
        str(error).strip().splitlines()[0] if str(error).strip() else "no detail",
    )
    pause = RECONNECT_FIRST_SECONDS
    while not stop.is_set():
        connections.close_all()
        try:
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            stop.wait(pause)
            pause = min(pause * 2, RECONNECT_MAX_SECONDS)
            continue
        logger.warning("The database answers again; the worker goes on.")
        return


def run_worker(*, interval: float = 1.0, batch: bool = False, worker_id: str | None = None) -> None:
    """Run tasks from every queue until stopped (or, with `batch`, until none are left)."""
    worker_id = worker_id or get_random_string(32)
    stop = threading.Event()
    while True:
        try:
            services.worker_heartbeat(worker_id)
            break
        except DatabaseError as error:
            _wait_for_database(error, stop)
    if batch:
        services.messages_requeue_stale()
        PeriodicRunner().run_due()
    else:
        threading.Thread(
            target=_housekeeping, args=(worker_id, stop), name="housekeeping", daemon=True
        ).start()
        threading.Thread(target=_probing, args=(stop,), name="probe", daemon=True).start()
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
        while True:
            try:
                worker.run()
                return
            except DatabaseError as error:
                # django-tasks-db's loop ends on any database error but a locked SQLite file.
                # A restart of the database server must not end the worker: wait, go on, and
                # run again what this worker was running when the database went away.
                _wait_for_database(error, stop)
                worker.running_task = False
                requeued = services.tasks_requeue_orphaned(worker_id=worker_id)
                if requeued:
                    logger.warning("Requeued %d tasks interrupted by the outage", requeued)
    finally:
        stop.set()
