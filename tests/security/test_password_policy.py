"""Point 10: one password policy, NIST SP 800-63B-4 for single-factor sign-in, wherever one is set.

NIST SP 800-63B-4 section 3.1.1.2: at least 15 characters for a password used alone, at least 64
allowed, no truncation, no composition rules, a blocklist of common values; ASVS 5.0 V6.2;
OWASP Forgot Password Cheat Sheet: "the new password should respect the password policy".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from autommate.accounts.models import User
from tests.conftest import USER_PASSWORD

from .conftest import Mailbox, choose_password, open_link, request_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def reset_page(mailbox: Mailbox, regular_user: User) -> Client:
    """A browser on the reset page of mike@example.org."""
    client = Client()
    open_link(client, request_link(Client(), mailbox, regular_user.email))
    return client


def signs_in(email: str, password: str) -> bool:
    response = Client().post("/login/", {"username": email, "password": password})
    return response.status_code == HTTPStatus.FOUND


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("fourteen chars", "at least 15 characters"),
        ("1q2w3e4r5t6y7u8i", "too common"),
        ("mike@example.org", "too similar"),
        ("x" * 1025, "at most 1024 characters"),
    ],
    ids=["short", "common", "like-the-email", "over-the-maximum"],
)
def test_weak_passwords_are_refused_with_the_reason(
    reset_page: Client, regular_user: User, password: str, message: str
) -> None:
    response = choose_password(reset_page, password)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()
    assert signs_in(regular_user.email, USER_PASSWORD)
    assert not signs_in(regular_user.email, password)


def test_password_like_the_full_name_is_refused(mailbox: Mailbox) -> None:
    User.objects.create_user(
        "bart@example.org", USER_PASSWORD, full_name="Bartholomew Featherstonehaugh"
    )
    client = Client()
    open_link(client, request_link(Client(), mailbox, "bart@example.org"))

    response = choose_password(client, "Featherstonehaugh Bartholomew")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "too similar" in response.content.decode()


def test_mismatched_confirmation_is_refused(reset_page: Client, regular_user: User) -> None:
    response = reset_page.post(
        "/reset-password/",
        {"new_password1": "one long passphrase typed", "new_password2": "one long passphrase typo"},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "do not match" in response.content.decode()
    assert signs_in(regular_user.email, USER_PASSWORD)


@pytest.mark.parametrize(
    "password",
    [
        "fifteen chars!!",
        "only lowercase letters and spaces",
        "739218465039182736",
        "Ünïcödé paßwörd ✓ with emoji 🔑",
    ],
    ids=["exactly-15", "lowercase", "digits", "unicode"],
)
def test_no_composition_rules(reset_page: Client, regular_user: User, password: str) -> None:
    assert choose_password(reset_page, password).status_code == HTTPStatus.FOUND
    assert signs_in(regular_user.email, password)


@pytest.mark.parametrize("length", [64, 200, 1024])
def test_long_passwords_are_allowed_and_never_truncated(
    reset_page: Client, regular_user: User, length: int
) -> None:
    words = "a long passphrase of many words "
    password = (words * (length // len(words) + 1))[: length - 1] + "!"

    assert choose_password(reset_page, password).status_code == HTTPStatus.FOUND

    assert signs_in(regular_user.email, password)
    for prefix in {password[:-1], password[:72], password[:64]} - {password}:
        assert not signs_in(regular_user.email, prefix)


def _minimum_for(configured: str, tmp_path: Path) -> int:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autommate.settings",
        "AUTOMMATE_VAR_DIR": str(tmp_path),
        "AUTOMMATE_PASSWORD_MIN_LENGTH": configured,
    }
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.AUTH_PASSWORD_VALIDATORS))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    (minimum,) = [
        v["OPTIONS"]["min_length"]
        for v in json.loads(shown.stdout)
        if v["NAME"].endswith("MinimumLengthValidator")
    ]
    return int(minimum)


def test_minimum_length_is_configurable_but_never_below_eight(tmp_path: Path) -> None:
    assert _minimum_for("", tmp_path) == 15
    assert _minimum_for("20", tmp_path) == 20
    assert _minimum_for("8", tmp_path) == 8
    assert _minimum_for("4", tmp_path) == 8


def test_the_policy_applies_when_an_administrator_adds_a_user(admin_client: Client) -> None:
    for password in ("fourteen chars", "1q2w3e4r5t6y7u8i", "newbie@example.org"):
        response = admin_client.post(
            "/users/add/",
            {
                "email": "newbie@example.org",
                "role": "user",
                "is_active": "on",
                "password": password,
            },
        )
        assert response.status_code != HTTPStatus.FOUND, password
    assert not User.objects.filter(email="newbie@example.org").exists()


@pytest.mark.parametrize("password", ["fourteen chars", "1q2w3e4r5t6y7u8i"])
def test_the_policy_applies_to_the_first_administrator_from_the_environment(
    monkeypatch, password: str
) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.org")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)

    with pytest.raises(CommandError, match=r"too short|too common"):
        call_command("createsuperuser", interactive=False, verbosity=0)
    with pytest.raises(CommandError, match=r"too short|too common"):
        call_command("setup", verbosity=0)

    assert not User.objects.exists()
    assert not signs_in("root@example.org", password)
