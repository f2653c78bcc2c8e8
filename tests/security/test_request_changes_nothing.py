"""Point 5: asking for a reset changes nothing on the account.

OWASP Forgot Password Cheat Sheet: "do not make a change to the account until a valid token is
presented, such as locking out the account" (ASVS 5.0 V6.4).
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from tests.conftest import USER_PASSWORD

from .conftest import Mailbox, request_reset, signed_in

pytestmark = pytest.mark.django_db


def test_requests_leave_password_sessions_and_sign_in_alone(
    mailbox: Mailbox, regular_user: User, user_client: Client
) -> None:
    before = User.objects.filter(pk=regular_user.pk).values().get()

    for number in range(5):  # up to and past the per-address limit
        request_reset(Client(REMOTE_ADDR=f"198.51.100.{number}"), regular_user.email)
    assert len(mailbox.deliver()) == 3

    assert User.objects.filter(pk=regular_user.pk).values().get() == before
    assert signed_in(user_client)
    fresh = Client()
    response = fresh.post("/login/", {"username": regular_user.email, "password": USER_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in(fresh)
