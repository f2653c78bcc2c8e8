"""The mail log page: what an administrator sees of every outgoing message, and what is not kept."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from autommate.delivery.models import Kind, OutgoingMessage, State

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits_off(settings) -> None:
    """Rate limits are tested elsewhere; here they would only count across tests (in Redis)."""
    settings.LIMIT_RESET_PER_CLIENT = "off"
    settings.LIMIT_RESET_PER_ADDRESS = "off"


LOG = "/settings/mail/log/"
LINK = re.compile(r"http://127\.0\.0\.1:8000/reset-password/([A-Za-z0-9_-]+)/")


def log_message(**fields) -> OutgoingMessage:
    values = {"kind": Kind.RESET, "recipient": "someone@example.org", "state": State.QUEUED}
    return OutgoingMessage.objects.create(**(values | fields))


def stat(body: str, words: str) -> int:
    """Return the number shown beside `words` in the counts at the head of the page."""
    match = re.search(r"<strong>(\d+)</strong>\s*" + re.escape(words), body)
    assert match, f"no count for {words!r}"
    return int(match[1])


def test_mail_log_shows_every_column_of_each_message(admin_client) -> None:
    now = timezone.now()
    next_attempt = now + timedelta(minutes=4)
    log_message(
        kind=Kind.RESET,
        recipient="waiting@example.org",
        state=State.RETRYING,
        attempts=2,
        created_at=now - timedelta(minutes=3),
        next_attempt_at=next_attempt,
        last_error="The mail server refused the connection. Check that it is running.",
    )
    log_message(
        kind=Kind.PASSWORD_CHANGED, recipient="done@example.org", state=State.SENT, attempts=1
    )
    log_message(kind=Kind.TEST, recipient="admin@example.org", state=State.QUEUED)

    response = admin_client.get(LOG)

    assert response.status_code == HTTPStatus.OK
    body = html.unescape(response.content.decode())
    assert body.count("<h1>") == 1
    assert "Mail log</h1>" in body
    for heading in ("Kind", "Recipient", "Created", "Attempts", "State", "Last error"):
        assert f'<th scope="col">{heading}</th>' in body
    assert '<th scope="col">Next attempt</th>' in body
    row = re.search(r"<tr>(?:(?!</tr>).)*waiting@example\.org.*?</tr>", body, re.S)
    assert row, body
    cells = [c.strip() for c in re.findall(r"<td>(.*?)</td>", row[0], re.S)]
    assert cells[0] == "Reset"
    assert cells[1] == "waiting@example.org"
    assert cells[2] == f"{now - timedelta(minutes=3):%Y-%m-%d %H:%M:%S} UTC"
    assert cells[3] == "2"
    assert "Retrying" in cells[4]
    assert cells[5] == "The mail server refused the connection. Check that it is running."
    assert cells[6] == f"{next_attempt:%Y-%m-%d %H:%M:%S} UTC"
    assert "Password changed" in body
    assert "done@example.org" in body
    assert "Test" in body
    assert "admin@example.org" in body


def test_mail_log_counts_sent_and_failed_mail_of_the_last_24_hours(admin_client) -> None:
    day_ago = timezone.now() - timedelta(hours=24, minutes=1)
    for _ in range(3):
        log_message(state=State.SENT)
    log_message(state=State.FAILED, last_error="The server refused the recipient.")
    log_message(state=State.SENT, created_at=day_ago)
    log_message(state=State.FAILED, created_at=day_ago)
    log_message(state=State.RETRYING)

    body = admin_client.get(LOG).content.decode()

    assert stat(body, "sent in the last 24 hours") == 3
    assert stat(body, "failed in the last 24 hours") == 1
    assert stat(body, "waiting") == 1


def test_mail_log_filters_by_state_and_kind(admin_client) -> None:
    log_message(recipient="failed@example.org", state=State.FAILED)
    log_message(recipient="sent@example.org", state=State.SENT)
    log_message(recipient="test@example.org", kind=Kind.TEST, state=State.SENT)

    failed = admin_client.get(LOG, {"state": "failed"}).content.decode()
    tests = admin_client.get(LOG, {"kind": "test"}).content.decode()

    assert "failed@example.org" in failed
    assert "sent@example.org" not in failed
    assert "test@example.org" in tests
    assert "sent@example.org" not in tests


def test_mail_log_is_for_administrators_only(client, user_client) -> None:
    assert user_client.get(LOG).status_code == HTTPStatus.FORBIDDEN
    anonymous = client.get(LOG)
    assert anonymous.status_code == HTTPStatus.FOUND
    assert anonymous["Location"].startswith("/login/")


def test_mail_log_keeps_no_body_token_or_link(
    admin_client, client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    client.post("/forgot-password/", {"email": regular_user.email})
    run_worker()
    (received,) = smtp_server.wait_for(1)
    text = received.get_body(("plain",)).get_content()
    match = LINK.search(text)
    assert match, text
    link, token = match[0], match[1]

    stored = repr(list(OutgoingMessage.objects.values()))
    page = admin_client.get(LOG).content.decode()

    assert OutgoingMessage.objects.get().state == State.SENT
    assert regular_user.email in page
    for secret in (token, link, "/reset-password/"):
        assert secret not in stored
        assert secret not in page
    # Nor the body: no line of the text part beyond the greeting is kept.
    assert "To choose a new password" not in stored
    assert received["Subject"] not in stored
