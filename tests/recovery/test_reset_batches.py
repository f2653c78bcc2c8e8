"""Reset requests taken up together by a delivery, and the mails of one round kept apart."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autommate.accounts.models import User
from autommate.delivery import services as delivery
from autommate.delivery.models import Kind, OutgoingMessage
from autommate.recovery.models import ResetLink, ResetRequest
from autommate.recovery.selectors import link_find, token_hash
from autommate.recovery.services import (
    reset_request,
    reset_request_process,
    reset_requests_process_waiting,
)
from tests.smtp_server import SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]

LINK = re.compile(r"http://127\.0\.0\.1:8000/reset-password/([A-Za-z0-9_-]+)/")


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content: str = part.get_content()
    return content


def ask(address: str, language: str = "") -> None:
    reset_request(address=address, client_address="192.0.2.10", language=language)


def test_waiting_requests_become_one_mail_each_for_active_accounts(forgot_password_on) -> None:
    active = User.objects.create_user("ana@example.org", full_name="Ana")
    inactive = User.objects.create_user("ina@example.org", full_name="Ina", is_active=False)
    ask("ANA@example.org", "de")
    ask("nobody@example.org")
    ask(inactive.email)
    ask(active.email, "tr")

    assert reset_requests_process_waiting(limit=10) == 4

    mails = OutgoingMessage.objects.order_by("id")
    assert [(mail.kind, mail.recipient, mail.user) for mail in mails] == [
        (Kind.RESET, active.email, active),
        (Kind.RESET, active.email, active),
    ]
    assert [mail.context["language"] for mail in mails] == ["de", "tr"]
    requests = ResetRequest.objects.order_by("id")
    assert all(request.processed_at is not None for request in requests)
    # The typed spelling is not kept once it has been resolved.
    assert {request.address for request in requests} == {""}


def test_waiting_requests_are_taken_oldest_first_up_to_the_limit_and_once(
    forgot_password_on, regular_user: User
) -> None:
    for _ in range(3):
        ask(regular_user.email)
    first, second, _third = ResetRequest.objects.order_by("id")

    assert reset_requests_process_waiting(limit=2) == 2
    assert set(ResetRequest.objects.filter(processed_at__isnull=False)) == {first, second}
    assert reset_requests_process_waiting(limit=2) == 1
    assert reset_requests_process_waiting(limit=2) == 0
    assert OutgoingMessage.objects.count() == 3


def test_a_request_taken_up_by_a_delivery_is_not_mailed_again_by_its_task(
    forgot_password_on, regular_user: User, smtp_server: SMTPTestServer, run_worker
) -> None:
    ask(regular_user.email)
    assert reset_requests_process_waiting(limit=5) == 1

    run_worker()

    assert len(smtp_server.wait_for(1)) == 1
    assert OutgoingMessage.objects.get().state == "sent"


def test_the_task_of_a_request_taken_up_already_only_reads(
    forgot_password_on, regular_user: User
) -> None:
    # The worker's write transactions are what web requests wait for on SQLite: a task that has
    # nothing left to do must not open one.
    ask(regular_user.email)
    request = ResetRequest.objects.get()
    assert reset_requests_process_waiting(limit=5) == 1

    with CaptureQueriesContext(connection) as queries:
        reset_request_process(request.pk)

    assert [query["sql"].split()[0] for query in queries] == ["SELECT"]
    assert OutgoingMessage.objects.count() == 1


def test_mails_composed_in_one_round_keep_their_own_reader_language_and_link(
    forgot_password_on, smtp_server: SMTPTestServer, run_worker
) -> None:
    """The sender and link lifetime are shared within a round; nothing of a recipient is."""
    german = User.objects.create_user("greta@example.org", full_name="Greta", language="de")
    turkish = User.objects.create_user("tarik@example.org", full_name="Tarık")
    english = User.objects.create_user("ed@example.org", full_name="Ed")
    ask(german.email)
    ask(turkish.email, "tr")
    ask(english.email)
    reset_requests_process_waiting(limit=10)

    assert delivery.deliver_due() == 3

    received = {message["To"]: message for message in smtp_server.wait_for(3)}
    tokens = {}
    for user, language in [(german, "de"), (turkish, "tr"), (english, "en")]:
        message = received[user.email]
        assert message["Content-Language"] == language
        text = body(message, "plain")
        html = body(message, "html")
        assert user.full_name in text
        assert user.full_name in html
        assert f'<html lang="{language}">' in html
        (token,) = set(LINK.findall(text))
        assert set(LINK.findall(html)) == {token}
        others = [other for other in (german, turkish, english) if other != user]
        assert not any(other.email in text + html for other in others)
        tokens[user] = token
    assert len(set(tokens.values())) == 3
    for user, token in tokens.items():
        link = link_find(token=token)
        assert link is not None
        assert link.user == user
    assert ResetLink.objects.filter(used_at=None, voided_at=None).count() == 3
    run_worker()  # The requests' own tasks find them processed: nothing more is sent.
    assert len(smtp_server.messages) == 3


def test_the_links_of_a_claimed_batch_are_issued_in_one_insert(
    forgot_password_on, smtp_server: SMTPTestServer
) -> None:
    # One write transaction per batch, not per mail: on SQLite each is a turn web requests wait for.
    users = [User.objects.create_user(f"user{n}@example.org") for n in range(4)]
    for user in users:
        ask(user.email)
    reset_requests_process_waiting(limit=10)

    with CaptureQueriesContext(connection) as queries:
        assert delivery.deliver_due() == 4

    link_inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "recovery_resetlink"')]
    assert len(link_inserts) == 1
    tokens = {
        message["To"]: LINK.findall(body(message, "plain"))[0]
        for message in smtp_server.wait_for(4)
    }
    for user in users:
        link = link_find(token=tokens[user.email])
        assert link is not None
        assert link.user == user


def test_of_two_mails_for_one_user_in_a_batch_only_the_later_link_works(
    forgot_password_on, regular_user: User, smtp_server: SMTPTestServer
) -> None:
    ask(regular_user.email)
    ask(regular_user.email)
    reset_requests_process_waiting(limit=10)
    first, later = OutgoingMessage.objects.order_by("id")

    assert delivery.deliver_due() == 2

    by_message_id = {
        message["Message-ID"]: LINK.findall(body(message, "plain"))[0]
        for message in smtp_server.wait_for(2)
    }
    first.refresh_from_db()
    later.refresh_from_db()
    older = ResetLink.objects.get(token_hash=token_hash(by_message_id[first.message_id]))
    assert older.voided_at is not None
    assert link_find(token=by_message_id[first.message_id]) is None
    newer = link_find(token=by_message_id[later.message_id])
    assert newer is not None
    assert newer.user == regular_user
    assert ResetLink.objects.filter(used_at=None, voided_at=None).count() == 1


def test_a_batch_issues_no_link_for_a_mail_that_is_not_sent(
    forgot_password_on, smtp_server: SMTPTestServer
) -> None:
    staying = User.objects.create_user("stay@example.org")
    moving = User.objects.create_user("move@example.org")
    leaving = User.objects.create_user("leave@example.org")
    old_link = ResetLink.objects.create(
        user=moving, account_state="x", expires_at=timezone.now() + timedelta(hours=1)
    )
    for user in (staying, moving, leaving):
        ask(user.email)
    reset_requests_process_waiting(limit=10)
    moving.email = "moved@example.org"
    moving.save()
    leaving.is_active = False
    leaving.save()

    assert delivery.deliver_due() == 1

    (received,) = smtp_server.wait_for(1)
    assert received["To"] == staying.email
    assert sorted(ResetLink.objects.values_list("user", flat=True)) == [staying.pk, moving.pk]
    old_link.refresh_from_db()
    assert old_link.voided_at is None  # No link was issued for the mail not sent.
    dropped = OutgoingMessage.objects.exclude(recipient=staying.email)
    assert {message.state for message in dropped} == {"failed"}  # Not sent, and why.


def test_a_batch_whose_links_could_not_be_issued_together_has_each_issued_alone(
    forgot_password_on, smtp_server: SMTPTestServer, monkeypatch, caplog
) -> None:
    from autommate.recovery import services

    issue_together = services.links_issue

    def fail_for_several(wanted):
        if len(wanted) > 1:
            raise RuntimeError("a fault in the batch")
        return issue_together(wanted)

    monkeypatch.setattr(services, "links_issue", fail_for_several)
    users = [User.objects.create_user(f"user{n}@example.org") for n in range(3)]
    for user in users:
        ask(user.email)
    reset_requests_process_waiting(limit=10)

    assert delivery.deliver_due() == 3

    assert "Could not prepare 3 messages of kind reset" in caplog.text
    for message in smtp_server.wait_for(3):
        (token,) = set(LINK.findall(body(message, "plain")))
        link = link_find(token=token)
        assert link is not None
        assert link.user.email == message["To"]
