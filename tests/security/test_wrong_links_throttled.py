"""Point 9: wrong or expired reset links are throttled per client, and every failure reads the same.

OWASP Forgot Password Cheat Sheet: protect the token check against brute force; ASVS 5.0 V2.4
(anti-automation), V6.4; the page must not tell a used link from an unknown one.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.recovery.models import ResetLink

from .conftest import (
    Mailbox,
    choose_password,
    open_link,
    path_of,
    request_link,
    without_csrf_token,
)

pytestmark = pytest.mark.django_db

INVALID = "This reset link is invalid or has expired."


def test_a_hundred_failures_an_hour_then_the_client_is_refused(
    mailbox: Mailbox, regular_user: User
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(100):
        guess = guesser.get(f"/reset-password/{secrets.token_urlsafe(32)}/")
        assert guess.status_code == HTTPStatus.NOT_FOUND

    refused = guesser.get(path_of(link))  # even a right guess is no longer looked at

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "Try again in" in refused.content.decode()
    open_link(Client(REMOTE_ADDR="198.51.100.1"), link)  # the owner, elsewhere, is not blocked


def test_ipv6_clients_are_throttled_by_their_network(mailbox: Mailbox, regular_user: User) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    for number in range(100):
        guesser = Client(REMOTE_ADDR=f"2001:db8:9:9::{number + 1:x}")
        guesser.get(f"/reset-password/{secrets.token_urlsafe(32)}/")

    neighbour = Client(REMOTE_ADDR="2001:db8:9:9:abcd::1")
    assert neighbour.get(path_of(link)).status_code == HTTPStatus.TOO_MANY_REQUESTS
    open_link(Client(REMOTE_ADDR="2001:db8:9:a::1"), link)


def test_every_kind_of_failure_says_the_same_and_only_that(
    mailbox: Mailbox, regular_user: User
) -> None:
    voided = request_link(Client(), mailbox, regular_user.email)
    expired = request_link(Client(), mailbox, regular_user.email)
    ResetLink.objects.filter(voided_at=None).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    used = request_link(Client(), mailbox, regular_user.email)
    owner = Client()
    open_link(owner, used)
    assert choose_password(owner).status_code == HTTPStatus.FOUND

    paths = [
        path_of(voided),
        path_of(expired),
        path_of(used),
        f"/reset-password/{secrets.token_urlsafe(32)}/",
        f"/reset-password/{'A' * 500}/",
        "/reset-password/%00/",
    ]
    answers = set()
    for path in paths:
        response = Client().get(path)
        assert response.status_code == HTTPStatus.NOT_FOUND, path
        answers.add(without_csrf_token(response.content))

    (page,) = answers
    assert INVALID in page
    assert regular_user.email not in page
