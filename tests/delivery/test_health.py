"""/healthz and /readyz: liveness, and readiness judged by the database and the mail queue."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import DatabaseError
from django.utils import timezone

from autommate.delivery.models import Kind, OutgoingMessage, State, WorkerHeartbeat

pytestmark = pytest.mark.django_db


def wait(*, minutes_ago: float) -> OutgoingMessage:
    return OutgoingMessage.objects.create(
        kind=Kind.RESET,
        recipient="someone@example.org",
        state=State.QUEUED,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
        next_attempt_at=timezone.now(),
    )


def worker_seen(*, seconds_ago: float) -> None:
    WorkerHeartbeat.objects.create(
        worker_id="worker-1", last_seen_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def test_healthz_answers_while_the_process_lives(client) -> None:
    response = client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_readyz_reports_waiting_mail_its_age_and_the_worker(client) -> None:
    wait(minutes_ago=5)
    wait(minutes_ago=1)
    OutgoingMessage.objects.create(kind=Kind.RESET, recipient="x@example.org", state=State.SENT)
    worker_seen(seconds_ago=10)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    report = response.json()
    assert report["status"] == "ready"
    assert report["waiting"] == 2
    assert 5 * 60 - 5 <= report["oldest_waiting_seconds"] <= 5 * 60 + 5
    assert 10 <= report["worker_last_seen_seconds"] <= 15


def test_readyz_is_ready_with_nothing_waiting_even_without_a_worker(client) -> None:
    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    report = response.json()
    assert report["status"] == "ready"
    assert report["waiting"] == 0
    assert report["oldest_waiting_seconds"] == 0
    assert report["worker_last_seen_seconds"] is None


@pytest.mark.parametrize("seconds_ago", [61, None], ids=["worker-gone", "no-worker-ever"])
def test_readyz_is_not_ready_when_mail_waits_and_no_worker_was_seen_for_a_minute(
    client, seconds_ago
) -> None:
    wait(minutes_ago=2)
    if seconds_ago is not None:
        worker_seen(seconds_ago=seconds_ago)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    report = response.json()
    assert report["status"] == "not ready"
    assert "no worker" in report["reason"]
    assert report["waiting"] == 1


def test_readyz_is_not_ready_without_the_database(client, monkeypatch) -> None:
    def unreachable(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("autommate.delivery.views.queue_status", unreachable)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["status"] == "not ready"
    assert "database" in response.json()["reason"]
