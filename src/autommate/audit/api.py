"""The JSON API of the audit log: who did what, when, from where."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from autommate.api.conventions import page_of, responses

from .models import AuditEvent
from .schemas import AuditEventPage, AuditQuery

router = Router()


@router.get("", response=responses({200: AuditEventPage}), summary="Read the audit log")
def audit_events(request: HttpRequest, query: Query[AuditQuery]) -> dict[str, Any]:
    """Return events, newest first, by action and time."""
    events = AuditEvent.objects.all()
    if query.action is not None:
        events = events.filter(action=query.action)
    if query.since is not None:
        events = events.filter(at__gte=query.since)
    if query.until is not None:
        events = events.filter(at__lt=query.until)
    return page_of(events, query)
