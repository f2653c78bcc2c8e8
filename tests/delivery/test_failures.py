"""Delivery logs a failed send in the words of the domain that sends, registered at start-up."""

from __future__ import annotations

import smtplib

import pytest

from autommate.delivery import failures
from autommate.delivery.failures import SendFailure, failure_explain
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
