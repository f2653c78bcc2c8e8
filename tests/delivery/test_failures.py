"""Delivery logs a failed send in the words of the domain that sends, registered at start-up."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
from django.utils import timezone

from autommate.delivery import failures
from autommate.delivery.failures import (
    SERVER_DELAY_SPREAD_SECONDS,
    SendFailure,
    failure_explain,
    retry_at,
)
from autommate.mailserver.connection import MailServerNotConfigured


def test_the_mail_server_explains_its_own_failures() -> None:
    refused = failure_explain(smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"No")}))
    missing = failure_explain(MailServerNotConfigured("none"))

    assert not refused.temporary
    assert "550" in refused.text
    assert missing == SendFailure(text="The mail server is not configured.", temporary=True)


def test_without_an_explainer_a_failure_is_logged_as_it_is_and_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures, "_explainers", [])

    failure = failure_explain(ConnectionResetError("reset by peer"))

    assert failure == SendFailure(text="ConnectionResetError: reset by peer", temporary=True)


@pytest.mark.parametrize(
    ("code", "reply", "throttled"),
    [
        (421, b"4.3.2 The server is busy; submission rate exceeded", True),
        (450, b"4.7.28 Our system has detected an unusual rate of unsolicited mail", True),
        (451, b"Throttled: too many messages, try again later", True),
        (452, b"4.5.3 Rate limit exceeded", True),
        (421, b"4.4.2 Connection dropped due to timeout", False),
        (451, b"4.3.0 Temporary failure, please try again later", False),
        (550, b"5.7.1 Rate limit policy: message refused", False),
    ],
)
def test_a_throttling_answer_is_told_apart_from_other_failures(
    code: int, reply: bytes, throttled: bool
) -> None:
    failure = failure_explain(smtplib.SMTPDataError(code, reply))

    assert failure.throttled is throttled


def test_a_retry_the_server_timed_comes_just_after_its_delay_spread_over_seconds() -> None:
    now = timezone.now()
    greylisted = SendFailure(text="greylisted", temporary=True, retry_after_seconds=300)
    backoff = now + timedelta(seconds=30)

    waits = [
        (retry_at(greylisted, now=now, backoff=backoff) - now).total_seconds() for _ in range(200)
    ]

    assert all(300 <= wait <= 300 + SERVER_DELAY_SPREAD_SECONDS for wait in waits)
    # Spread out, not all in the same second.
    assert max(waits) - min(waits) > SERVER_DELAY_SPREAD_SECONDS / 2
    assert len({int(wait) for wait in waits}) > 5


def test_a_failure_without_a_delay_of_its_own_keeps_the_backoff() -> None:
    now = timezone.now()
    backoff = now + timedelta(seconds=42)

    assert retry_at(SendFailure(text="busy", temporary=True), now=now, backoff=backoff) == backoff
    assert retry_at(None, now=now, backoff=backoff) == backoff
