"""Point 11: a reset signs nobody in, ends every session, renews the session id, revokes API tokens.

OWASP Forgot Password Cheat Sheet: "do not automatically log the user in", "invalidate existing
sessions"; ASVS 5.0 V7.4.3 (terminate all sessions after a password change), V7.2.4 (new session
token on authentication); OWASP Session Management Cheat Sheet (session fixation).
"""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from autommate.accounts.models import User
from tests.conftest import USER_PASSWORD

from .conftest import (
    NEW_PASSWORD,
    Mailbox,
    choose_password,
    open_link,
    request_link,
    signed_in,
)

pytestmark = pytest.mark.django_db

TOKEN_SECRET = re.compile(r"amt_[A-Za-z0-9_-]{43}")


def sign_in(password: str = USER_PASSWORD, client: Client | None = None) -> Client:
    client = client or Client()
    response = client.post("/login/", {"username": "mike@example.org", "password": password})
    assert response.status_code == HTTPStatus.FOUND
    return client


def test_reset_signs_nobody_in_and_ends_every_session_of_the_account(
    mailbox: Mailbox, regular_user: User, admin_client: Client
) -> None:
    laptop, phone = sign_in(), sign_in()
    resetting = sign_in()  # the reset is done in a browser that is itself signed in
    open_link(resetting, request_link(Client(), mailbox, regular_user.email))

    done = choose_password(resetting)

    assert done.status_code == HTTPStatus.FOUND
    assert done["Location"] == "/login/"
    page = resetting.get("/login/").content.decode()
    assert "Every session of your account has been logged out" in page
    assert "API tokens revoked" in page
    for client in (resetting, laptop, phone):
        assert not signed_in(client)
        assert "_auth_user_id" not in client.session
    assert signed_in(admin_client)  # other accounts keep theirs


def test_next_sign_in_gets_a_new_session_id(mailbox: Mailbox, regular_user: User) -> None:
    client = Client()
    open_link(client, request_link(Client(), mailbox, regular_user.email))
    assert choose_password(client).status_code == HTTPStatus.FOUND
    planted = SessionStore()
    planted["planted"] = True
    planted.save()
    planted_key = planted.session_key
    assert planted_key
    client.cookies[settings.SESSION_COOKIE_NAME] = planted_key

    sign_in(NEW_PASSWORD, client)

    renewed = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert renewed
    assert renewed != planted_key
    assert not SessionStore().exists(planted_key)
    assert signed_in(client)


def test_reset_revokes_the_accounts_api_tokens(mailbox: Mailbox, regular_user: User) -> None:
    browser = sign_in()
    created = browser.post("/account/tokens/", {"name": "deploy script"})
    assert created.status_code == HTTPStatus.OK
    match = TOKEN_SECRET.search(created.content.decode())
    assert match
    bearer = {"Authorization": f"Bearer {match.group(0)}"}
    assert Client().get("/api/v1/api-tokens", headers=bearer).status_code == HTTPStatus.OK

    client = Client()
    open_link(client, request_link(Client(), mailbox, regular_user.email))
    assert choose_password(client).status_code == HTTPStatus.FOUND

    refused = Client().get("/api/v1/api-tokens", headers=bearer)
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.json()["code"] == "invalid_token"
