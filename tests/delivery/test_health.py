"""/healthz and /readyz: liveness, and readiness judged by the database and the mail queue."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from autommate.delivery.models import Kind, OutgoingMessage, State, WorkerHeartbeat
from autommate.settings import _env_networks
from tests.api.conftest import token_for

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


def test_readyz_is_ready_with_nothing_waiting_and_a_worker_seen(client) -> None:
    worker_seen(seconds_ago=30)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    report = response.json()
    assert report["status"] == "ready"
    assert report["waiting"] == 0
    assert report["oldest_waiting_seconds"] == 0
    assert report["retrying"] == 0


@pytest.mark.parametrize("seconds_ago", [61, None], ids=["worker-gone", "no-worker-ever"])
def test_readyz_is_not_ready_without_a_worker_even_with_nothing_waiting(
    client, seconds_ago
) -> None:
    # A reset request made now would be answered "on its way" and never sent.
    if seconds_ago is not None:
        worker_seen(seconds_ago=seconds_ago)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["status"] == "not ready"
    assert "No worker has been seen for a minute" in response.json()["reason"]


def test_readyz_is_not_ready_while_background_work_waits_for_a_worker(client) -> None:
    from autommate.delivery.tasks import deliver_due

    worker_seen(seconds_ago=5)
    result = deliver_due.enqueue()
    assert client.get("/readyz").json()["status"] == "ready"
    DBTaskResult.objects.filter(pk=result.id).update(
        enqueued_at=timezone.now() - timedelta(minutes=3)
    )

    response = client.get("/readyz", **OUTSIDE)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "status": "not ready",
        "reason": "Background work has waited more than two minutes for a worker.",
    }


def test_readyz_is_degraded_while_redis_is_away(client, settings, closed_port) -> None:
    worker_seen(seconds_ago=5)
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"

    response = client.get("/readyz", **OUTSIDE)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "status": "degraded",
        "reason": "Redis cannot be reached: rate limits are counted in the database.",
    }


def test_readyz_says_mail_is_retried_to_those_who_see_the_counters_only(client) -> None:
    worker_seen(seconds_ago=5)
    retrying = wait(minutes_ago=1)
    retrying.state = State.RETRYING
    retrying.save()

    monitor = client.get("/readyz").json()
    stranger = client.get("/readyz", **OUTSIDE)

    assert monitor["status"] == "degraded"
    assert monitor["reason"] == "1 mails are being retried: see the mail log."
    assert monitor["retrying"] == 1
    assert stranger.status_code == HTTPStatus.OK
    assert stranger.json() == {"status": "ready"}


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
    assert "No worker" in report["reason"]
    assert report["waiting"] == 1


def test_readyz_is_not_ready_without_the_database(client, monkeypatch) -> None:
    def unreachable(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("autommate.delivery.selectors.queue_status", unreachable)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["status"] == "not ready"
    assert "database" in response.json()["reason"]


OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}
COUNTERS = {
    "waiting",
    "oldest_waiting_seconds",
    "worker_last_seen_seconds",
    "sent_24h",
    "retrying",
    "failed_24h",
}


def test_readyz_tells_a_stranger_only_whether_it_is_ready_and_why_not(client) -> None:
    worker_seen(seconds_ago=5)
    assert client.get("/readyz", **OUTSIDE).json() == {"status": "ready"}
    WorkerHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(minutes=2))

    response = client.get("/readyz", **OUTSIDE)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "status": "not ready",
        "reason": "No worker has been seen for a minute: no mail is being sent.",
    }


def test_readyz_shows_the_counters_to_a_signed_in_administrator_only(
    admin_client, user_client
) -> None:
    wait(minutes_ago=1)
    worker_seen(seconds_ago=5)

    assert set(admin_client.get("/readyz", **OUTSIDE).json()) == {"status", *COUNTERS}
    assert user_client.get("/readyz", **OUTSIDE).json() == {"status": "ready"}


def test_readyz_shows_the_counters_for_an_administrators_api_token(
    admin_user, regular_user, client
) -> None:
    worker_seen(seconds_ago=5)

    def bearer(token: str) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {token}", **OUTSIDE}

    report = client.get("/readyz", **bearer(token_for(admin_user))).json()
    assert set(report) == {"status", *COUNTERS}

    refused = client.get("/readyz", **bearer(token_for(regular_user)))
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == "permission_denied"
    assert "administrator's API token" in refused.json()["message"]

    unknown = client.get("/readyz", **bearer("amt_" + "x" * 43))
    assert unknown.status_code == HTTPStatus.UNAUTHORIZED
    assert unknown.json() == {
        "code": "invalid_token",
        "message": "The API token is not valid.",
        "fields": {},
    }


@pytest.mark.parametrize(
    ("networks", "address", "shown"),
    [
        ("127.0.0.0/8,::1/128", "127.0.0.1", True),
        ("127.0.0.0/8,::1/128", "::1", True),
        ("127.0.0.0/8,::1/128", "::ffff:127.0.0.1", True),
        ("127.0.0.0/8,::1/128", "10.1.2.3", False),
        ("10.0.0.0/8, 2001:db8::/32", "10.1.2.3", True),
        ("10.0.0.0/8, 2001:db8::/32", "2001:db8::7", True),
        ("10.0.0.0/8, 2001:db8::/32", "127.0.0.1", False),
        ("none", "127.0.0.1", False),
    ],
)
def test_readyz_shows_the_counters_to_the_monitoring_networks(
    client, settings, monkeypatch, networks, address, shown
) -> None:
    monkeypatch.setenv("AUTOMMATE_MONITORING_NETWORKS", networks)
    settings.MONITORING_NETWORKS = _env_networks(
        "AUTOMMATE_MONITORING_NETWORKS", "127.0.0.0/8,::1/128"
    )

    worker_seen(seconds_ago=5)
    report = client.get("/readyz", REMOTE_ADDR=address).json()

    assert (set(report) == {"status", *COUNTERS}) is shown
    assert report["status"] == "ready"


def test_monitoring_networks_that_are_not_ranges_stop_the_start_with_a_clear_message(
    monkeypatch,
) -> None:
    monkeypatch.setenv("AUTOMMATE_MONITORING_NETWORKS", "10.0.0.0/8,monitoring.example.org")

    with pytest.raises(ImproperlyConfigured, match=r"'monitoring\.example\.org' is neither"):
        _env_networks("AUTOMMATE_MONITORING_NETWORKS", "127.0.0.0/8,::1/128")


def test_readyz_behind_a_proxy_judges_the_forwarded_client(client, settings) -> None:
    settings.TRUSTED_PROXIES = 1
    worker_seen(seconds_ago=5)

    from_proxy = client.get("/readyz", HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert from_proxy.json() == {"status": "ready"}
