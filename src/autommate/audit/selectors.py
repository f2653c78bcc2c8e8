"""Reads of the audit log, shared by its page and the JSON API."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from .models import AuditEvent


def audit_event_list(
    *,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Return events, newest first, narrowed to those matching every filter given.

    `since` includes events at that moment, `until` excludes them.
    """
    events = AuditEvent.objects.all()
    if action is not None:
        events = events.filter(action=action)
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    return events
