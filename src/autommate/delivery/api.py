"""The JSON API of the mail log: every outgoing mail and where its delivery stands."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from autommate.api.conventions import page_of, responses

from .schemas import MailLogPage, MailLogQuery
from .selectors import message_list

router = Router()


@router.get("", response=responses({200: MailLogPage}), summary="Read the mail log")
def mail_log(request: HttpRequest, query: Query[MailLogQuery]) -> dict[str, Any]:
    """Return outgoing mails, newest first, by kind, state and time of creation."""
    messages = message_list(
        kind=query.kind, state=query.state, since=query.since, until=query.until
    )
    return page_of(messages, query)
