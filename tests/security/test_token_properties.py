"""Point 6: the reset token is random, long, URL-safe, stored only as a hash, bound to one account.

OWASP Forgot Password Cheat Sheet, "URL tokens": generated with a cryptographically secure
generator, long enough, stored securely, single use; ASVS 5.0 V7.2 (session and token
generation, at least 128 bits of entropy); NIST SP 800-63B-4 (secrets from an approved RBG).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.recovery.models import ResetLink
from tests.conftest import USER_PASSWORD

from .conftest import (
    NEW_PASSWORD,
    Mailbox,
    choose_password,
    everything_stored,
    open_link,
    request_link,
    token_of,
)

pytestmark = pytest.mark.django_db

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture
def issued(monkeypatch) -> list[tuple[int, str]]:
    """Record what `secrets.token_urlsafe` hands out, and for how many random bytes."""
    real = secrets.token_urlsafe
    seen: list[tuple[int, str]] = []

    def spy(nbytes: int | None = None) -> str:
        token = real(nbytes)
        seen.append((nbytes or 32, token))
        return token

    monkeypatch.setattr(secrets, "token_urlsafe", spy)
    return seen


@pytest.fixture
def other_user(db) -> User:
    return User.objects.create_user("olga@example.org", USER_PASSWORD, full_name="Olga Other")


def test_token_comes_whole_from_secrets_with_at_least_128_bits(
    mailbox: Mailbox, regular_user: User, issued: list[tuple[int, str]]
) -> None:
    token = token_of(request_link(Client(), mailbox, regular_user.email))

    assert URL_SAFE.fullmatch(token)
    assert len(token) * 6 >= 128
    nbytes = next(n for n, value in issued if value == token)
    assert nbytes * 8 >= 128


def test_tokens_carry_no_email_or_time_and_share_nothing(
    mailbox: Mailbox, regular_user: User, other_user: User
) -> None:
    client = Client()
    tokens = [token_of(request_link(client, mailbox, u.email)) for u in (regular_user, other_user)]
    now = str(int(time.time()))

    assert tokens[0] != tokens[1]
    assert tokens[0][:8] != tokens[1][:8]
    for token, user in zip(tokens, (regular_user, other_user), strict=True):
        try:
            decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except binascii.Error:
            decoded = b""
        for text in (token.lower(), decoded.decode("latin-1").lower()):
            assert user.email.split("@")[0] not in text
            assert now[:6] not in text


def test_token_is_stored_only_as_its_sha256_hash(mailbox: Mailbox, regular_user: User) -> None:
    client = Client()
    link = request_link(client, mailbox, regular_user.email)
    token = token_of(link)

    stored = ResetLink.objects.get()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in everything_stored()

    open_link(client, link)  # the token moves into the session
    assert token not in everything_stored()

    assert choose_password(client).status_code == HTTPStatus.FOUND
    assert token not in everything_stored()


def test_token_is_bound_to_the_account_it_was_issued_for(
    mailbox: Mailbox, regular_user: User, other_user: User
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    request_link(Client(), mailbox, other_user.email)

    client = Client()
    open_link(client, link)
    assert regular_user.email in client.get("/reset-password/").content.decode()
    assert choose_password(client).status_code == HTTPStatus.FOUND

    regular_user.refresh_from_db()
    other_user.refresh_from_db()
    assert regular_user.check_password(NEW_PASSWORD)
    assert other_user.check_password(USER_PASSWORD)
