"""Workers through faults: a worker that died mid-task, and a database that restarts.

The workers are real `autommate worker` processes on the test database (see test_workers.py).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from autommate.accounts.models import User
from autommate.delivery.models import Kind, OutgoingMessage, State, WorkerHeartbeat
from autommate.delivery.services import message_record
from autommate.recovery.models import ResetRequest
from tests.conftest import USER_PASSWORD
from tests.delivery.test_workers import (
    point_mail_settings_at,
    queue_notices,
    start_worker,
    wait_until,
)

__all__ = ["start_worker"]  # A fixture, used by name.

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_reset_request_left_running_by_a_dead_worker_is_processed(
    forgot_password_on, regular_user, smtp_server, start_worker
) -> None:
    """What SIGKILL leaves behind mid-request: the task RUNNING under a worker that is gone.

    Its transaction died with it, so the request is unprocessed and the user was told a mail is
    on its way. Another worker runs the task again and the mail goes out.
    """
    point_mail_settings_at(smtp_server)
    answer = Client().post("/forgot-password/", {"email": regular_user.email})
    assert answer.status_code == 302
    task = DBTaskResult.objects.get(task_path__endswith="reset_request_process")
    task.claim("killed-worker")
    # Claimed two minutes ago, when the worker was killed.
    DBTaskResult.objects.filter(pk=task.pk).update(started_at=timezone.now() - timedelta(minutes=2))
    WorkerHeartbeat.objects.create(
        worker_id="killed-worker", last_seen_at=timezone.now() - timedelta(minutes=2)
    )

    rescuer = start_worker("rescuer")
    wait_until(lambda: len(smtp_server.messages) == 1, "the reset mail is sent", rescuer)

    assert smtp_server.messages[0]["To"] == regular_user.email
    assert ResetRequest.objects.get().processed_at is not None
    # The rescuer records the task's result just after the mail is out.
    wait_until(
        lambda: not DBTaskResult.objects.running().exists(), "no task is left running", rescuer
    )
    assert "Requeued 1 tasks left running by a worker that died" in rescuer.log()
    rescuer.stop()


def test_a_living_workers_running_task_is_left_alone(
    forgot_password_on, regular_user, start_worker
) -> None:
    from autommate.delivery.services import tasks_requeue_orphaned

    Client().post("/forgot-password/", {"email": regular_user.email})
    task = DBTaskResult.objects.get(task_path__endswith="reset_request_process")
    task.claim("busy-worker")
    WorkerHeartbeat.objects.create(worker_id="busy-worker")

    assert tasks_requeue_orphaned() == 0
    assert DBTaskResult.objects.running().count() == 1
    assert tasks_requeue_orphaned(worker_id="busy-worker") == 1
    assert DBTaskResult.objects.running().count() == 0


def test_a_worker_lives_through_a_database_restart(smtp_server, start_worker) -> None:
    """PostgreSQL refuses connections and drops every open one for two seconds, as a restart does.

    The worker says once that the database is away and once that it is back, and sends what was
    queued before and after; it neither exits nor logs a traceback.
    """
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")
    import psycopg

    from autommate.mailserver.models import MailServerSettings

    MailServerSettings.objects.create(
        pk=1, host="127.0.0.1", port=1, sender_email="noreply@example.org", use_tls=False
    )
    point_mail_settings_at(smtp_server)
    before = queue_notices(3)
    worker = start_worker("survivor")
    wait_until(lambda: len(smtp_server.messages) == 3, "the first mails are sent", worker)

    db = connection.settings_dict
    name = db["NAME"]
    # From the maintenance database: PostgreSQL refuses to lock out the one it is connected to.
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [name],
        )
        time.sleep(2)
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    connection.close()  # The test's own connection was dropped too.
    after = set()
    for number in range(3):
        user = User.objects.create_user(f"after{number}@example.org", USER_PASSWORD)
        message_record(
            kind=Kind.PASSWORD_CHANGED,
            recipient=user.email,
            user=user,
            context={"changed_at": timezone.now().isoformat()},
        )
        after.add(user.email)
    wait_until(
        lambda: not OutgoingMessage.objects.exclude(state=State.SENT).exists(),
        "every mail is sent after the restart",
        worker,
    )

    assert {m["To"] for m in smtp_server.messages} == before | after
    log = worker.log()
    # One line for the outage and one for its end, never one per poll; none at all when the
    # outage fell inside a delivery round, whose writes retry through it on a fresh connection.
    outages = log.count("The database cannot be reached")
    assert outages <= 1, log
    assert log.count("The database answers again") == outages, log
    assert "Traceback" not in log
    worker.stop()
