"""Point 1: the forgot-password request answers the same for every address, and never uses SMTP.

OWASP Forgot Password Cheat Sheet, "Forgot password request": return a consistent message for
existent and non-existent accounts, and answer in a uniform time (ASVS 5.0 V6.3, V6.4).
"""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
from django.conf import settings
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from autommate.accounts.models import User
from autommate.mailserver.models import MailServerSettings
from autommate.recovery.models import ResetRequest
from autommate.recovery.views import ADDRESS_COOKIE, ADDRESS_COOKIE_SALT
from tests.conftest import USER_PASSWORD

from .conftest import Mailbox, request_reset, without_csrf_token

pytestmark = pytest.mark.django_db

# A request that talked SMTP to a server that never answers would take its whole timeout (10 s).
FAST_SECONDS = 1.0


def answer_to(address: str) -> tuple[dict[str, object], float]:
    """Ask for a reset from a fresh browser; return everything the answer shows, and its time."""
    client = Client()
    started = time.monotonic()
    response = request_reset(client, address)
    elapsed = time.monotonic() - started
    followed = (
        client.get(response["Location"]) if response.status_code == HTTPStatus.FOUND else None
    )
    shown = {
        "status": response.status_code,
        "location": response.get("Location"),
        "body": without_csrf_token(response.content),
        "cookies": {
            # A new session's key is random for every browser; whether there is one is not.
            # The address cookie holds the address typed, signed, for "Check your email".
            name: (
                "SESSION"
                if name == settings.SESSION_COOKIE_NAME
                else _typed(morsel.value, address)
                if name == ADDRESS_COOKIE
                else morsel.value,
                morsel["max-age"],
                morsel["path"],
                morsel["samesite"],
            )
            for name, morsel in response.cookies.items()
        },
        # "Check your email" names the address typed, whichever kind it is.
        "next_page": (
            without_csrf_token(followed.content).replace(address, "ADDRESS") if followed else None
        ),
    }
    return shown, elapsed


def _typed(value: str, address: str) -> str:
    """Return ADDRESS for the signed address cookie of `address`, which it must be."""
    assert signing.loads(value, salt=ADDRESS_COOKIE_SALT) == address
    return "ADDRESS"


@pytest.fixture
def inactive_user(db) -> User:
    return User.objects.create_user("gone@example.org", USER_PASSWORD, is_active=False)


def assert_same_answers(answers: list[tuple[dict[str, object], float]]) -> None:
    assert all(elapsed < FAST_SECONDS for _, elapsed in answers), answers
    shown = [answer for answer, _ in answers]
    assert shown[0]["status"] == HTTPStatus.FOUND
    assert "A reset email has been sent" in str(shown[0]["next_page"])
    for other in shown[1:]:
        assert other == shown[0]


def test_registered_unknown_and_inactive_addresses_get_identical_answers(
    mailbox: Mailbox, regular_user, inactive_user
) -> None:
    answers = [
        answer_to(a) for a in (regular_user.email, "nobody@example.org", inactive_user.email)
    ]

    assert_same_answers(answers)
    assert [m["To"] for m in mailbox.deliver()] == [regular_user.email]


def test_answers_stay_identical_while_the_mail_server_does_not_answer(
    mailbox: Mailbox, regular_user, inactive_user, silent_port
) -> None:
    reachable = answer_to(regular_user.email)
    MailServerSettings.objects.filter(pk=1).update(port=silent_port)

    answers = [
        answer_to(a) for a in (regular_user.email, "nobody@example.org", inactive_user.email)
    ]

    assert_same_answers([reachable, *answers])


def test_request_path_neither_looks_the_address_up_nor_talks_smtp(
    mailbox: Mailbox, regular_user
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = request_reset(Client(), regular_user.email)

    assert response.status_code == HTTPStatus.FOUND
    statements = " ".join(q["sql"] for q in queries.captured_queries)
    assert "accounts_user" not in statements
    assert mailbox.server.commands == []
    assert ResetRequest.objects.get().processed_at is None
