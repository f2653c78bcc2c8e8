"""Point 18: an audit log of who did what, when and from where, holding no secret.

ASVS 5.0 V16.2 and V16.3 (security events logged with who, what, when, where; no secrets or
personal data beyond need); OWASP Logging Cheat Sheet; OWASP Forgot Password Cheat Sheet
(monitor reset activity). The address typed on the forgot-password page is kept only as a keyed
hash, so the log cannot become a list of who has an account.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.audit.models import Action, AuditEvent
from tests.conftest import USER_PASSWORD

from .conftest import (
    NEW_PASSWORD,
    Mailbox,
    choose_password,
    mail_form,
    open_link,
    path_of,
    request_reset,
    reset_link,
    token_of,
)

pytestmark = pytest.mark.django_db

SMTP_SECRET = "audit-smtp-secret-value"
ADMIN_ADDRESS = "192.0.2.10"
VISITOR = "198.51.100.5"
TYPED = "MIKE@Example.ORG"
STRANGER = "Typed.Stranger@Example.org"
WRONG_PASSWORD = "a wrong password for the audit"
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


@pytest.fixture
def admin(admin_user: User) -> Client:
    client = Client(REMOTE_ADDR=ADMIN_ADDRESS)
    client.force_login(admin_user)
    return client


def test_every_security_event_is_recorded_without_secrets(
    admin: Client, smtp_server_factory, run_worker, regular_user: User, settings
) -> None:
    server = smtp_server_factory(
        auth=True, password=SMTP_SECRET, reject_recipients=["bounce@example.org"]
    )
    form = mail_form(server, use_auth="on", allow_insecure_login="on", username=server.username)
    assert admin.post("/settings/mail/", {**form, "password": SMTP_SECRET}).status_code == 302
    admin.post("/settings/mail/test/", {**form, "test_recipient": "ops@example.org"})
    code = CODE.search(str(server.wait_for(1)[0].get_body(("plain",)).get_content()))
    assert code
    admin.post("/settings/mail/confirm/", {"code": code.group(1)})
    switched = admin.post(
        "/settings/forgot-password/", {"enabled": "on", "link_lifetime_minutes": 60}
    )
    assert switched.status_code == HTTPStatus.FOUND
    created = admin.post(
        "/users/add/", {"email": "bounce@example.org", "role": "user", "is_active": "on"}
    )
    assert created.status_code == HTTPStatus.FOUND
    bounce = User.objects.get(email="bounce@example.org")
    edit = {"email": bounce.email, "full_name": "Bea Bounce", "role": "user", "is_active": "on"}
    assert admin.post(f"/users/{bounce.pk}/", edit).status_code == HTTPStatus.FOUND

    visitor = Client(REMOTE_ADDR=VISITOR)
    request_reset(visitor, TYPED)
    request_reset(visitor, bounce.email)
    run_worker()
    assert admin.post(f"/users/{bounce.pk}/deactivate/").status_code == HTTPStatus.FOUND
    link = reset_link(server.wait_for(2)[1])
    token = token_of(link)
    open_link(visitor, link)
    assert choose_password(visitor).status_code == HTTPStatus.FOUND
    visitor.get(path_of(link))  # used now: an invalid link
    # The visitor's browser completed Mike's reset, which gives it its own allowance there;
    # the same address without that browser's cookie is a stranger.
    stranger = Client(REMOTE_ADDR=VISITOR)
    for _ in range(3):
        request_reset(stranger, TYPED)  # the third one is over the per-address limit
    settings.LIMIT_SIGN_IN_PER_ACCOUNT = "2/15m"
    for _ in range(2):
        stranger.post("/login/", {"username": STRANGER, "password": WRONG_PASSWORD})

    recorded = {event.action for event in AuditEvent.objects.all()}
    expected = {
        Action.MAIL_SETTINGS_CHANGED,
        Action.TEST_MAIL_SENT,
        Action.FORGOT_PASSWORD_SWITCHED,
        Action.RESET_REQUESTED,
        Action.RESET_MAIL_SENT,
        Action.RESET_MAIL_FAILED,
        Action.RESET_COMPLETED,
        Action.RESET_LINK_INVALID,
        Action.RATE_LIMITED,
        Action.SIGN_IN_FAILED,
        Action.SIGN_IN_LOCKED,
        Action.USER_CREATED,
        Action.USER_CHANGED,
        Action.USER_DEACTIVATED,
    }
    assert expected <= recorded, expected - recorded

    by_admin = AuditEvent.objects.filter(
        action__in=[
            Action.MAIL_SETTINGS_CHANGED,
            Action.TEST_MAIL_SENT,
            Action.FORGOT_PASSWORD_SWITCHED,
            Action.USER_CREATED,
            Action.USER_CHANGED,
            Action.USER_DEACTIVATED,
        ]
    )
    for event in by_admin:
        assert event.actor_label == "admin@example.org", event.action
        assert event.client_address == ADMIN_ADDRESS, event.action
        assert event.at is not None
    settings_changed = AuditEvent.objects.get(action=Action.MAIL_SETTINGS_CHANGED)
    assert "password" in settings_changed.detail["fields"]
    assert AuditEvent.objects.get(action=Action.TEST_MAIL_SENT).detail["result"] == "accepted"
    assert AuditEvent.objects.get(action=Action.FORGOT_PASSWORD_SWITCHED).detail["enabled"]
    for action in (Action.RESET_REQUESTED, Action.RESET_COMPLETED, Action.RESET_LINK_INVALID):
        assert AuditEvent.objects.filter(action=action, client_address=VISITOR).exists(), action
    assert "error" in AuditEvent.objects.get(action=Action.RESET_MAIL_FAILED).detail

    everything = repr(list(AuditEvent.objects.values()))
    for secret in (token, link, "/reset-password/", SMTP_SECRET, NEW_PASSWORD, WRONG_PASSWORD):
        assert secret not in everything, secret
    assert USER_PASSWORD not in everything
    for typed in (TYPED, STRANGER, STRANGER.lower()):
        assert typed not in everything, typed
    requested = repr(list(AuditEvent.objects.filter(action=Action.RESET_REQUESTED).values()))
    assert "mike@example.org" not in requested.lower()


def test_only_administrators_see_the_audit_log(
    admin: Client, user_client: Client, client: Client
) -> None:
    AuditEvent.objects.create(
        action=Action.RESET_REQUESTED, client_address=VISITOR, detail={"address": "0123abcd"}
    )

    page = admin.get("/settings/audit/")
    assert page.status_code == HTTPStatus.OK
    body = page.content.decode()
    assert "<h1>Audit log</h1>" in body
    assert "Reset requested" in body
    assert VISITOR in body
    assert user_client.get("/settings/audit/").status_code == HTTPStatus.FORBIDDEN
    assert client.get("/settings/audit/").status_code == HTTPStatus.FOUND
    assert user_client.get("/api/v1/audit-events").status_code == HTTPStatus.FORBIDDEN


def test_the_page_shows_who_what_when_and_from_where(
    admin: Client, mailbox: Mailbox, regular_user: User
) -> None:
    admin.post("/settings/forgot-password/", {"link_lifetime_minutes": 60})

    body = admin.get("/settings/audit/?action=forgot_password_switched").content.decode()

    assert "Forgot Password switched" in body
    assert "admin@example.org" in body
    assert ADMIN_ADDRESS in body
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", body)


def test_refused_requests_are_counted_on_one_event_not_written_one_row_each(
    admin: Client, mailbox: Mailbox
) -> None:
    flooder = Client(REMOTE_ADDR=VISITOR)
    for number in range(20):  # The per-client limit: 20 an hour.
        assert request_reset(flooder, f"user{number}@example.org").status_code == HTTPStatus.FOUND

    for number in range(200):
        refused = request_reset(flooder, f"other{number}@example.org")
        assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS, number

    events = AuditEvent.objects.filter(action=Action.RATE_LIMITED)
    # One event per limit, key and quarter of an hour: two only if the flood crossed a boundary.
    assert 1 <= events.count() <= 2
    assert sum(event.count for event in events) == 200
    for event in events:
        assert event.client_address == VISITOR
        # The request id of the first occurrence, as its log lines carry it, and nothing else.
        assert event.detail.pop("request_id")
        assert event.detail == {"limit": "reset-client"}
    busiest = max(events, key=lambda event: event.count)
    assert busiest.last_at is not None
    assert busiest.last_at >= busiest.at
    page = admin.get("/settings/audit/?action=rate_limited").content.decode()
    assert f"{busiest.count} times, the last at" in page
    listed = admin.get("/api/v1/audit-events?action=rate_limited").json()["items"]
    assert sum(item["count"] for item in listed) == 200
    assert all(item["last_at"] for item in listed if item["count"] > 1)
