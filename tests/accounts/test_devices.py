"""Device cookies: signed, bound to one account, expiring, and trusted for nothing else."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from autommate.accounts.devices import (
    DEVICE_COOKIE,
    MOST_ACCOUNTS_PER_COOKIE,
    account_digest,
    device_cookie_value,
    device_for,
)
from autommate.accounts.models import User
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db


def test_a_sign_in_sets_a_long_lived_http_only_cookie_naming_no_address(
    regular_user: User,
) -> None:
    client = Client()
    answer = client.post("/login/", {"username": regular_user.email, "password": USER_PASSWORD})
    cookie = answer.cookies[DEVICE_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 180 * 86400
    assert "mike" not in signing.loads(cookie.value, salt="autommate.accounts.devices").__repr__()
    assert device_for(cookie=cookie.value, address="MIKE@example.org") is not None


def test_a_failed_sign_in_sets_no_cookie(regular_user: User) -> None:
    answer = Client().post("/login/", {"username": regular_user.email, "password": "x" * 20})
    assert answer.status_code == HTTPStatus.OK
    assert DEVICE_COOKIE not in answer.cookies


def test_the_cookie_proves_nothing_for_another_account() -> None:
    cookie = device_cookie_value(cookie="", address="mike@example.org")
    assert device_for(cookie=cookie, address="ada@example.org") is None


def test_a_tampered_or_foreign_cookie_proves_nothing() -> None:
    cookie = device_cookie_value(cookie="", address="mike@example.org")
    assert device_for(cookie=cookie[:-2] + "xx", address="mike@example.org") is None
    forged = signing.dumps([[account_digest("mike@example.org"), "n", 2_000_000_000]])
    assert device_for(cookie=forged, address="mike@example.org") is None
    assert device_for(cookie="garbage", address="mike@example.org") is None


def test_an_expired_entry_proves_nothing(monkeypatch) -> None:
    cookie = device_cookie_value(cookie="", address="mike@example.org")
    later = timezone.now() + timedelta(days=181)
    monkeypatch.setattr("autommate.accounts.devices.timezone.now", lambda: later)
    assert device_for(cookie=cookie, address="mike@example.org") is None


def test_a_browser_keeps_its_last_few_accounts_each_with_a_new_nonce_when_it_signs_in() -> None:
    cookie = ""
    for number in range(MOST_ACCOUNTS_PER_COOKIE + 1):
        cookie = device_cookie_value(cookie=cookie, address=f"user{number}@example.org")
    assert device_for(cookie=cookie, address="user0@example.org") is None
    first = device_for(cookie=cookie, address="user1@example.org")
    assert first is not None
    again = device_cookie_value(cookie=cookie, address="user1@example.org")
    second = device_for(cookie=again, address="user1@example.org")
    assert second is not None
    assert second.nonce != first.nonce
    assert device_for(cookie=again, address="user5@example.org") is not None
