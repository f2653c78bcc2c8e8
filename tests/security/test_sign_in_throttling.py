"""Point 13: failed sign-ins are throttled per account and per client, revealing nothing.

ASVS 5.0 V6.3.1 (controls against credential stuffing and brute force); NIST SP 800-63B-4
section 3.2.2 (rate limiting, at most 100 failures); OWASP Authentication Cheat Sheet (account
lockout without enumeration). A lock must not become a way to keep the owner out for good, so it
never blocks Forgot Password, and completing a reset lifts it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from django.contrib.auth import authenticate
from django.db import connections
from django.test import Client

from autommate.accounts.models import User
from autommate.audit.models import Action, AuditEvent
from tests.conftest import USER_PASSWORD

from .conftest import NEW_PASSWORD, Mailbox, choose_password, open_link, request_link

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed attempts to log in"
WRONG = "a wrong password, long enough"


def attempt(email: str, password: str, number: int = 1):
    client = Client(REMOTE_ADDR=f"198.51.100.{number}")
    return client.post("/login/", {"username": email, "password": password})


def page_without(response, email: str) -> str:
    from .conftest import without_csrf_token

    return without_csrf_token(response.content).replace(email, "EMAIL")


def test_account_locks_after_ten_failures_and_unknown_addresses_look_the_same(
    regular_user: User,
) -> None:
    pages: dict[str, list[str]] = {}
    for email in (regular_user.email, "nobody@example.org"):
        failures = [attempt(email, WRONG, number) for number in range(10)]
        assert all(f.status_code == HTTPStatus.OK for f in failures)
        locked = attempt(email, USER_PASSWORD, 200)
        pages[email] = [page_without(failures[0], email), page_without(locked, email)]

    assert LOCKED in pages[regular_user.email][1]
    assert LOCKED not in pages[regular_user.email][0]
    assert pages[regular_user.email] == pages["nobody@example.org"]
    assert attempt(regular_user.email, USER_PASSWORD, 201).status_code == HTTPStatus.OK


def test_client_address_locks_after_fifty_failures(regular_user: User) -> None:
    for number in range(50):
        attempt(f"guess{number}@example.org", WRONG, number=7)

    locked = attempt(regular_user.email, USER_PASSWORD, number=7)

    assert LOCKED in locked.content.decode()
    assert attempt(regular_user.email, USER_PASSWORD, number=8).status_code == HTTPStatus.FOUND


def test_a_lock_never_blocks_a_password_reset(mailbox: Mailbox, regular_user: User) -> None:
    for number in range(10):
        attempt(regular_user.email, WRONG, number)
    assert LOCKED in attempt(regular_user.email, USER_PASSWORD, 50).content.decode()

    client = Client(REMOTE_ADDR="198.51.100.60")
    open_link(client, request_link(client, mailbox, regular_user.email))
    assert choose_password(client).status_code == HTTPStatus.FOUND

    assert attempt(regular_user.email, NEW_PASSWORD, 61).status_code == HTTPStatus.FOUND


def test_ipv6_clients_are_locked_by_their_network(regular_user: User) -> None:
    for number in range(50):
        client = Client(REMOTE_ADDR=f"2001:db8:5:6::{number + 1:x}")
        client.post("/login/", {"username": f"guess{number}@example.org", "password": WRONG})

    same_network = Client(REMOTE_ADDR="2001:db8:5:6:ffff::1")
    form = {"username": regular_user.email, "password": USER_PASSWORD}
    assert LOCKED in same_network.post("/login/", form).content.decode()
    assert Client(REMOTE_ADDR="2001:db8:5:7::1").post("/login/", form).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_are_checked_no_more_often_than_the_limit(
    regular_user: User, monkeypatch
) -> None:
    checked = []

    def slow_check(*args, **kwargs):  # as slow as a real password hash, about
        checked.append(1)
        time.sleep(0.05)
        return authenticate(*args, **kwargs)

    monkeypatch.setattr("autommate.accounts.signin.authenticate", slow_check)
    start = threading.Barrier(60)

    def guess(number: int) -> str:
        client = Client(REMOTE_ADDR=f"198.51.100.{number}")
        start.wait()
        try:
            response = client.post("/login/", {"username": regular_user.email, "password": WRONG})
            return response.content.decode()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=60) as pool:
        pages = list(pool.map(guess, range(60)))

    assert len(checked) == 10
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_FAILED).count() == 10
    assert sum(LOCKED in page for page in pages) == 50
