"""The mail log and the audit log through the API: paged, filtered by time and kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from autommate.audit.models import Action, AuditEvent
from autommate.audit.services import audit_record
from autommate.delivery import services
from autommate.delivery.models import Kind, OutgoingMessage, State
from tests.api.conftest import ApiClient, assert_error
from tests.delivery.test_queue import make_retries_due

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
PAST = datetime(2020, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def messages(db) -> list[OutgoingMessage]:
    rows = [
        (Kind.RESET, State.SENT, NOW - timedelta(days=2)),
        (Kind.RESET, State.FAILED, NOW - timedelta(hours=5)),
        (Kind.TEST, State.SENT, NOW - timedelta(hours=1)),
        (Kind.PASSWORD_CHANGED, State.RETRYING, NOW),
    ]
    return [
        OutgoingMessage.objects.create(
            kind=kind,
            recipient="mike@example.org",
            state=state,
            created_at=created_at,
            last_error="Connection refused." if state == State.FAILED else "",
        )
        for kind, state, created_at in rows
    ]


def test_mail_log_lists_newest_first(admin_api: ApiClient, messages) -> None:
    body = admin_api.get("/mail-log").json()
    assert body["count"] == 4
    assert [item["kind"] for item in body["items"]] == [
        "password_changed",
        "test",
        "reset",
        "reset",
    ]
    failed = body["items"][2]
    assert failed["state"] == "failed"
    assert failed["last_error"] == "Connection refused."


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"kind": "reset"}, 2),
        ({"state": "sent"}, 2),
        ({"kind": "reset", "state": "failed"}, 1),
        ({"since": "2030-05-01T06:00:00Z"}, 3),
        ({"since": "2030-05-01T06:00:00"}, 3),
        ({"since": "2030-04-30T07:29:00-22:31"}, 3),
        ({"until": "2030-05-01T12:00:00+00:00"}, 3),
        ({"since": "2030-04-30T00:00:00Z", "until": "2030-05-01T11:30:00Z"}, 1 + 1),
    ],
)
def test_mail_log_filters(admin_api: ApiClient, messages, params, count: int) -> None:
    assert admin_api.get("/mail-log", params).json()["count"] == count


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "spam"},
        {"state": "lost"},
        {"since": "yesterday"},
        {"until": "0001-01-01T00:00:00+05:00"},
    ],
)
def test_mail_log_rejects_unknown_filters(admin_api: ApiClient, params) -> None:
    body = assert_error(
        admin_api.get("/mail-log", params), HTTPStatus.BAD_REQUEST, "validation_failed"
    )
    assert list(body["fields"]) == list(params)


def test_mail_log_is_paged(admin_api: ApiClient, messages) -> None:
    body = admin_api.get("/mail-log", {"page_size": 3, "page": 2}).json()
    assert (body["count"], body["pages"], len(body["items"])) == (4, 2, 1)


@pytest.fixture
def events(admin_user) -> list[AuditEvent]:
    created = [
        audit_record(Action.SIGN_IN, actor=admin_user, client_address="192.0.2.1"),
        audit_record(Action.USER_CREATED, actor=admin_user, target="new@example.org", role="user"),
        audit_record(Action.RESET_REQUESTED, client_address="2001:db8::1"),
    ]
    # Hours apart in the past, before the admin token's creation (an event too, now).
    for index, event in enumerate(created):
        at = PAST - timedelta(hours=len(created) - index)
        AuditEvent.objects.filter(pk=event.pk).update(at=at)
    return created


def test_audit_events_list_newest_first(admin_api: ApiClient, events) -> None:
    items = admin_api.get("/audit-events").json()["items"]
    assert [item["action"] for item in items] == [
        "api_token_created",
        "reset_requested",
        "user_created",
        "sign_in",
    ]
    created = items[2]
    assert created["actor"] == "admin@example.org"
    assert created["action_label"] == "User created"
    assert created["target"] == "new@example.org"
    assert created["detail"] == {"role": "user"}
    assert items[1]["client_address"] == "2001:db8::1"


@pytest.mark.parametrize(
    ("params", "actions"),
    [
        ({"action": "sign_in"}, ["sign_in"]),
        (
            {"since": "2020-05-01T10:00:00Z", "until": "2021-01-01T00:00:00Z"},
            ["reset_requested", "user_created"],
        ),
        ({"until": "2020-05-01T10:00:00Z"}, ["sign_in"]),
        ({"action": "user_created", "until": "2020-05-01T10:00:00Z"}, []),
        ({"action": "api_token_created", "since": "2021-01-01T00:00:00"}, ["api_token_created"]),
    ],
)
def test_audit_events_filter(admin_api: ApiClient, events, params, actions) -> None:
    items = admin_api.get("/audit-events", params).json()["items"]
    assert [item["action"] for item in items] == actions


def test_audit_events_reject_unknown_action(admin_api: ApiClient) -> None:
    response = admin_api.get("/audit-events", {"action": "coffee_made"})
    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")


def test_audit_events_are_paged(admin_api: ApiClient, events) -> None:
    body = admin_api.get("/audit-events", {"page_size": 2}).json()
    # The admin token's creation is an event too.
    assert body["count"] == 4
    assert body["pages"] == 2
    assert len(body["items"]) == 2
    assert timezone.is_aware(datetime.fromisoformat(body["items"][0]["at"]))


def test_mail_log_lists_the_attempts_of_each_mail(
    admin_api: ApiClient, forgot_password_on, smtp_server, run_worker, regular_user
) -> None:
    smtp_server.temporary_failures = 1
    services.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=regular_user.email,
        user=regular_user,
        context={"changed_at": timezone.now().isoformat(), "client_address": "192.0.2.1"},
    )
    run_worker()
    make_retries_due()
    run_worker()

    [item] = admin_api.get("/mail-log").json()["items"]

    assert item["state"] == "sent"
    first, second = item["history"]
    assert (first["number"], first["outcome"], first["step"]) == (1, "retrying", "Message accepted")
    assert first["reply"].startswith("451 4.3.0")
    assert (second["number"], second["outcome"]) == (2, "sent")
