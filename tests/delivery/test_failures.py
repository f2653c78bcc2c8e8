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
