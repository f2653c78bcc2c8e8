"""The shapes of the mail log in the JSON API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

from autommate.api.conventions import Moment, PageOut, PageParams

from .attempts import DeliveryAttempt, Outcome
from .models import Kind, OutgoingMessage, State


class MailLogQuery(PageParams):
    kind: Kind | None = None
    state: State | None = None
    since: Moment | None = Field(None, description="Created at or after (no zone: UTC).")
    until: Moment | None = Field(None, description="Created before (no zone: UTC).")


class DeliveryAttemptOut(Schema):
    number: int
    at: datetime
    outcome: Outcome = Field(description="sent, retrying (failed for now) or failed.")
    step: str = Field(description="The step of the SMTP conversation that failed, if one did.")
    reply: str = Field(description="The server's reply, or the error, as reported.")
    explanation: str = Field(description="The cause and what to change, in plain words.")
    next_attempt_at: datetime | None


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
    history: list[DeliveryAttemptOut] = Field(
        description="Every delivery attempt, oldest first: kept after a retried mail is sent."
    )

    @staticmethod
    def resolve_history(message: OutgoingMessage) -> list[DeliveryAttempt]:
        return list(message.attempt_history.all())


class MailLogPage(PageOut):
    items: list[OutgoingMessageOut]
