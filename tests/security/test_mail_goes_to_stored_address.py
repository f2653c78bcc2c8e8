"""Point 2: mail goes only to the address stored on the account, and exactly one address is taken.

Answers GitLab CVE-2023-7028 (a reset mailed to an attacker's address passed in an array) and
Django CVE-2019-19844 (a Unicode look-alike matched an account and the mail went to the typed
spelling). OWASP Forgot Password Cheat Sheet: send the reset to the address on file; ASVS 5.0
V6.4.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.recovery.models import ResetRequest
from tests.conftest import USER_PASSWORD

from .conftest import Mailbox, request_reset

pytestmark = pytest.mark.django_db

ONE_ADDRESS = "Enter exactly one email address."


@pytest.fixture
def stored_user(db) -> User:
    return User.objects.create_user("Mike.Jones@Example.org", USER_PASSWORD, full_name="Mike")


@pytest.mark.parametrize(
    "typed",
    [
        "mike.jones@example.org",
        "MIKE.JONES@EXAMPLE.ORG",
        "MI\u212aE.JONES@example.org",  # KELVIN SIGN, NFKC-equal to "K"
    ],
)
def test_any_spelling_of_the_address_reaches_the_stored_one_only(
    mailbox: Mailbox, stored_user: User, typed: str
) -> None:
    response = request_reset(Client(), typed)
    assert response.status_code == HTTPStatus.FOUND

    message = mailbox.deliver_one()
    assert message.rcpt_tos == ["Mike.Jones@Example.org"]
    assert message["To"] == "Mike.Jones@Example.org"
    assert typed not in str(message)


@pytest.mark.parametrize(
    "typed",
    [
        "m\u0131ke.jones@example.org",  # LATIN SMALL LETTER DOTLESS I
        "M\u0130KE.JONES@EXAMPLE.ORG",  # LATIN CAPITAL LETTER I WITH DOT ABOVE
        "\uff4dike.jones@example.org",  # FULLWIDTH LATIN SMALL LETTER M
        "mike.jones@example.org.attacker.example",
    ],
)
def test_look_alike_addresses_reach_nobody(mailbox: Mailbox, stored_user: User, typed: str) -> None:
    response = request_reset(Client(), typed)
    assert response.status_code in {HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST}

    assert mailbox.deliver() == []
    assert mailbox.server.commands == []


@pytest.mark.parametrize(
    "body",
    [
        "email=mike.jones%40example.org&email=attacker%40example.org",
        "email%5B%5D=mike.jones%40example.org&email%5B%5D=attacker%40example.org",
        "email%5B0%5D=mike.jones%40example.org&email%5B1%5D=attacker%40example.org",
        "email=mike.jones%40example.org%2Cattacker%40example.org",
        "email=mike.jones%40example.org%3Battacker%40example.org",
        "email=mike.jones%40example.org%0D%0ABcc%3A+attacker%40example.org",
        "email=mike.jones%40example.org%0ABcc%3A+attacker%40example.org",
        "email=%22mike.jones%40example.org%2Cattacker%22%40example.org",
    ],
    ids=["repeated", "array", "indexed", "comma", "semicolon", "crlf", "lf", "quoted-comma"],
)
def test_more_than_one_address_is_refused_with_a_clear_message(
    mailbox: Mailbox, stored_user: User, body: str
) -> None:
    response = Client().post(
        "/forgot-password/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert ONE_ADDRESS in response.content.decode()
    assert not ResetRequest.objects.exists()
    assert mailbox.deliver() == []


@pytest.mark.parametrize(
    "payload",
    [
        {"email": ["mike.jones@example.org", "attacker@example.org"]},
        {"email": ["mike.jones@example.org"]},
    ],
    ids=["list", "one-element-list"],
)
def test_json_lists_posted_to_the_page_are_refused(
    mailbox: Mailbox, stored_user: User, payload: dict[str, object]
) -> None:
    response = Client().post(
        "/forgot-password/", json.dumps(payload), content_type="application/json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not ResetRequest.objects.exists()
    assert mailbox.deliver() == []


@pytest.mark.parametrize(
    "email",
    [
        ["mike.jones@example.org", "attacker@example.org"],
        ["mike.jones@example.org"],
        {"address": "mike.jones@example.org"},
        "mike.jones@example.org,attacker@example.org",
        "mike.jones@example.org\r\nBcc: attacker@example.org",
    ],
    ids=["list", "one-element-list", "object", "comma", "crlf"],
)
def test_the_api_takes_exactly_one_address_too(
    mailbox: Mailbox, stored_user: User, email: object
) -> None:
    response = Client().post(
        "/api/v1/password-reset/request", {"email": email}, content_type="application/json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == "validation_failed"
    assert list(body["fields"]) == ["email"]
    if isinstance(email, str):
        assert body["fields"]["email"] == [ONE_ADDRESS]
    assert not ResetRequest.objects.exists()
    assert mailbox.deliver() == []
