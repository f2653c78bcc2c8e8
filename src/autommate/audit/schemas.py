"""The shapes of the audit log in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field

from autommate.api.conventions import Moment, PageOut, PageParams

from .models import Action, AuditEvent


class AuditQuery(PageParams):
    action: Action | None = None
    since: Moment | None = Field(None, description="At or after (no zone: UTC).")
    until: Moment | None = Field(None, description="Before (no zone: UTC).")


class AuditEventOut(Schema):
    id: int
    at: datetime
    action: str = Field(description="One of the actions of the `action` filter.")
    action_label: str
    actor: str = Field(description="The email of who did it, as it was then; empty: nobody.")
    client_address: str | None
    target: str
    detail: dict[str, Any]
    count: int = Field(
        description="How many times it happened: a repeating event, such as a rate limit "
        "refusing one client, is one event per quarter of an hour that counts its repeats."
    )
    last_at: datetime | None = Field(
        description="When it last happened, for an event that happened more than once; "
        "`at` is the first time."
    )

    @staticmethod
    def resolve_action_label(event: AuditEvent) -> str:
        return event.get_action_display()

    @staticmethod
    def resolve_actor(event: AuditEvent) -> str:
        return event.actor_label


class AuditEventPage(PageOut):
    items: list[AuditEventOut]
