"""The JSON API of the audit log: who did what, when, from where."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from autommate.api.conventions import page_of, responses

from .schemas import AuditEventPage, AuditQuery
from .selectors import audit_event_list

router = Router()


@router.get("", response=responses({200: AuditEventPage}), summary="Read the audit log")
def audit_events(request: HttpRequest, query: Query[AuditQuery]) -> dict[str, Any]:
    """Return events, newest first, by action and time."""
    events = audit_event_list(action=query.action, since=query.since, until=query.until)
    return page_of(events, query)
