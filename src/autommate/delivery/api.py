"""The JSON API of the mail log: every outgoing mail and where its delivery stands."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from autommate.api.conventions import page_of, responses

from .models import OutgoingMessage
from .schemas import MailLogPage, MailLogQuery

router = Router()


@router.get("", response=responses({200: MailLogPage}), summary="Read the mail log")
def mail_log(request: HttpRequest, query: Query[MailLogQuery]) -> dict[str, Any]:
    """Return outgoing mails, newest first, by kind, state and time of creation."""
    messages = OutgoingMessage.objects.all()
    if query.kind is not None:
        messages = messages.filter(kind=query.kind)
    if query.state is not None:
        messages = messages.filter(state=query.state)
    if query.since is not None:
        messages = messages.filter(created_at__gte=query.since)
    if query.until is not None:
        messages = messages.filter(created_at__lt=query.until)
    return page_of(messages, query)
