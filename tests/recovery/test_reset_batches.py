"""Reset requests taken up together by a delivery, and the mails of one round kept apart."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from autommate.accounts.models import User
from autommate.delivery import services as delivery
from autommate.delivery.models import Kind, OutgoingMessage
from autommate.recovery.models import ResetLink, ResetRequest
from autommate.recovery.selectors import link_find
from autommate.recovery.services import reset_request, reset_requests_process_waiting
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
