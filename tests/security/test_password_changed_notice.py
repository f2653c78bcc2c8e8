"""Point 12: the owner is told, at the stored address, that the password changed: when, from where.

OWASP Forgot Password Cheat Sheet: notify the user of the change; ASVS 5.0 V6.3.7 (notify users
after updates to authentication details); NIST SP 800-63B-4 (notify the subscriber of a change).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from tests.conftest import USER_PASSWORD

from .conftest import (
    LINK,
    NEW_PASSWORD,
    Mailbox,
    choose_password,
    everything_in,
    html_of,
    open_link,
    request_link,
    text_of,
    token_of,
)

pytestmark = pytest.mark.django_db

CLIENT = "198.51.100.23"


def test_owner_is_told_when_and_from_where_with_nothing_secret(mailbox: Mailbox) -> None:
    User.objects.create_user("Mike.Jones@Example.org", USER_PASSWORD, full_name="Mike Jones")
    link = request_link(Client(), mailbox, "MIKE.JONES@example.org")
    client = Client(REMOTE_ADDR=CLIENT)
    open_link(client, link)
    before = datetime.now(UTC)

    assert choose_password(client).status_code == HTTPStatus.FOUND

    notice = mailbox.deliver_one()
    assert notice.rcpt_tos == ["Mike.Jones@Example.org"]
    assert notice["To"] == "Mike.Jones@Example.org"
    assert "changed" in notice["Subject"].lower()
    for body in (text_of(notice), html_of(notice)):
        assert CLIENT in body
        assert any(
            (before + timedelta(minutes=delta)).strftime("%-d %B %Y, %H:%M UTC") in body
            for delta in (0, 1)
        )
        assert "If it was not you" in body
        assert "/forgot-password/" in body
    whole = everything_in(notice)
    assert token_of(link) not in whole
    assert NEW_PASSWORD not in whole
    assert USER_PASSWORD not in whole
    assert not LINK.search(whole)


def test_no_notice_while_the_password_is_unchanged(mailbox: Mailbox, regular_user: User) -> None:
    client = Client()
    open_link(client, request_link(Client(), mailbox, regular_user.email))
    assert choose_password(client, "short").status_code == HTTPStatus.BAD_REQUEST

    assert mailbox.deliver() == []
