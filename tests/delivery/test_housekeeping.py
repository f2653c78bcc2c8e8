"""The worker's housekeeping: tasks left running by dead workers, and pruning old rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks.base import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from autommate.delivery import services, tasks
from autommate.delivery.models import Kind, OutgoingMessage, State, WorkerHeartbeat

pytestmark = pytest.mark.django_db


def running_task(worker_id: str, *, started_seconds_ago: float) -> DBTaskResult:
    result = tasks.deliver_due.enqueue()
    started = timezone.now() - timedelta(seconds=started_seconds_ago)
    DBTaskResult.objects.filter(pk=result.id).update(
        status=TaskResultStatus.RUNNING, started_at=started, worker_ids=[worker_id]
    )
    return DBTaskResult.objects.get(pk=result.id)


def heartbeat(worker_id: str, *, seconds_ago: float) -> None:
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.create(worker_id=worker_id, started_at=seen, last_seen_at=seen)


def test_task_of_a_dead_worker_is_run_again() -> None:
    heartbeat("dead", seconds_ago=services.WORKER_DEAD_AFTER_SECONDS + 5)
    task = running_task("dead", started_seconds_ago=services.WORKER_DEAD_AFTER_SECONDS + 10)

    assert services.tasks_requeue_orphaned() == 1

    task.refresh_from_db()
    assert task.status == TaskResultStatus.READY
    assert task.started_at is None


def test_task_of_a_live_worker_keeps_running() -> None:
    heartbeat("alive", seconds_ago=1)
    task = running_task("alive", started_seconds_ago=600)

    assert services.tasks_requeue_orphaned() == 0

    task.refresh_from_db()
    assert task.status == TaskResultStatus.RUNNING


def test_a_task_just_claimed_by_a_new_worker_is_left_alone() -> None:
    # Claimed a moment ago by a worker whose first heartbeat is not yet visible.
    task = running_task("new", started_seconds_ago=1)

    assert services.tasks_requeue_orphaned() == 0

    task.refresh_from_db()
    assert task.status == TaskResultStatus.RUNNING


def test_message_held_by_a_dead_worker_is_scheduled_once_its_lease_ran_out() -> None:
    now = timezone.now()
    OutgoingMessage.objects.create(
        kind=Kind.PASSWORD_CHANGED,
        recipient="ada@example.org",
        state=State.SENDING,
        attempts=1,
        next_attempt_at=now - timedelta(seconds=5),
        locked_until=now - timedelta(seconds=1),
    )
    waiting = DBTaskResult.objects.ready().filter(task_path=tasks.deliver_due.module_path)

    assert services.messages_requeue_stale() == 1
    assert waiting.count() == 1
    # Scheduled once, however often housekeeping comes round before a worker takes it.
    assert services.messages_requeue_stale() == 1
    assert waiting.count() == 1


def test_old_mail_log_rows_and_finished_tasks_are_pruned(settings) -> None:
    settings.MAIL_LOG_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    recent = timezone.now() - timedelta(days=29)
    for created_at, state in [
        (old, State.SENT),
        (old, State.FAILED),
        (old, State.RETRYING),
        (recent, State.SENT),
    ]:
        OutgoingMessage.objects.create(
            kind=Kind.PASSWORD_CHANGED,
            recipient="ada@example.org",
            state=state,
            created_at=created_at,
        )
    old_task = tasks.deliver_due.enqueue()
    new_task = tasks.deliver_due.enqueue()
    DBTaskResult.objects.filter(pk=old_task.id).update(
        status=TaskResultStatus.SUCCESSFUL, finished_at=old
    )
    DBTaskResult.objects.filter(pk=new_task.id).update(
        status=TaskResultStatus.SUCCESSFUL, finished_at=recent
    )

    assert services.mail_log_prune() == (2, 1)

    assert sorted(OutgoingMessage.objects.values_list("state", flat=True)) == [
        State.RETRYING,
        State.SENT,
    ]
    remaining = [str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)]
    assert remaining == [str(new_task.id)]
