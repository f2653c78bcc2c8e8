"""The one error model: every front door shows a refusal the same way, each in one place."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from autommate.accounts.management.scripting import (
    EXIT_REFUSED,
    EXIT_TRY_LATER,
    OperatorCommand,
)
from autommate.api.errors import as_api_failure
from autommate.errors import DomainError, wait_in_words
from autommate.mailserver.services import InvalidConfirmationCode
from autommate.ratelimits.services import Decision, RateLimited
from autommate.recovery.services import ForgotPasswordDisabled, InvalidResetLink, MailNotVerified

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ForgotPasswordDisabled(), HTTPStatus.NOT_FOUND, "forgot_password_disabled"),
        (MailNotVerified("Not yet.", field="enabled"), HTTPStatus.CONFLICT, "mail_not_verified"),
        (InvalidResetLink(), HTTPStatus.BAD_REQUEST, "invalid_reset_link"),
        (InvalidConfirmationCode(), HTTPStatus.BAD_REQUEST, "invalid_confirmation_code"),
        (RateLimited(30), HTTPStatus.TOO_MANY_REQUESTS, "rate_limited"),
    ],
)
def test_every_domain_error_reaches_the_api_with_its_status_and_code(
    error: DomainError, status: HTTPStatus, code: str
) -> None:
    failure = as_api_failure(error)

    assert (failure.status, failure.code, failure.message) == (status, code, error.message)
    assert failure.fields == ({error.field: [error.message]} if error.field else {})
    assert failure.retry_after == error.retry_after


def test_an_unknown_exception_is_a_server_error_without_its_text() -> None:
    failure = as_api_failure(RuntimeError("secret internals"))

    assert failure.status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "secret internals" not in failure.message


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (900, "15 minutes"),
        (7199, "120 minutes"),
        (7200, "2 hours"),
        (7201, "3 hours"),
        (86400, "24 hours"),
    ],
)
def test_a_wait_is_said_in_words(seconds: int, words: str) -> None:
    assert wait_in_words(seconds) == words


def test_a_rate_limit_says_the_wait_and_carries_it() -> None:
    error = RateLimited(900, reason="Too many test mails.", otherwise="or ask someone else")

    assert error.message == "Too many test mails. Try again in 15 minutes, or ask someone else."
    assert error.retry_after == error.retry_after_seconds == 900


def test_a_decision_within_the_limit_raises_nothing() -> None:
    Decision(allowed=True).enforce()
    with pytest.raises(RateLimited) as raised:
        Decision(allowed=False, retry_after_seconds=5).enforce(reason="Slow down.")
    assert raised.value.message == "Slow down. Try again in 5 seconds."


def test_a_rate_limit_on_any_page_is_a_429_page_with_the_wait(
    admin_client: Client, settings: Any
) -> None:
    # The delivery confirmation lock once answered 400 with a form error; it is a 429 now, like
    # every other limit of the pages.
    for _ in range(10):
        admin_client.post("/settings/mail/confirm/", {"code": "AAAA-AAAA"})

    limited = admin_client.post(
        "/settings/mail/confirm/", {"code": "AAAA-AAAA"}, HTTP_REFERER="http://testserver/x/"
    )

    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(limited["Retry-After"]) <= 60
    assert limited["Cache-Control"] == "no-store"
    body = limited.content.decode()
    assert "Too many wrong codes. Try again in" in body
    assert 'href="http://testserver/x/"' in body


class _Refusing(OperatorCommand):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def handle(self, *args: Any, **options: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RateLimited(30, reason="Too many test mails."), EXIT_TRY_LATER),
        (InvalidConfirmationCode("This code is not valid."), EXIT_REFUSED),
        (MailNotVerified("Confirm a test mail first."), EXIT_REFUSED),
    ],
)
def test_a_command_ends_a_refusal_with_its_message_and_exit_status(
    error: DomainError, status: int
) -> None:
    with pytest.raises(CommandError) as raised:
        call_command(_Refusing(error))

    assert str(raised.value) == error.message
    assert raised.value.returncode == status
