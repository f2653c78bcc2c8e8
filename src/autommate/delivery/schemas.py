"""The shapes of the mail log in the JSON API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

from autommate.api.conventions import Moment, PageOut, PageParams

from .models import Kind, State


class MailLogQuery(PageParams):
    kind: Kind | None = None
    state: State | None = None
    since: Moment | None = Field(None, description="Created at or after (no zone: UTC).")
    until: Moment | None = Field(None, description="Created before (no zone: UTC).")


class OutgoingMessageOut(Schema):
    id: int
    kind: Kind
    recipient: str
    state: State
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str = Field(description="Why the last attempt failed, and what to change.")
    message_id: str


class MailLogPage(PageOut):
    items: list[OutgoingMessageOut]
