"""The shapes of Forgot Password in the JSON API."""

from __future__ import annotations

from ninja import Schema
from pydantic import Field


class ForgotPasswordOut(Schema):
    enabled: bool
    link_lifetime_minutes: int
    invitation_lifetime_days: int
    mail_ready: bool = Field(
        description="Whether the mail settings are verified, so that the feature can be enabled."
    )
    not_ready_reason: str = Field(description="Why the feature cannot be enabled now, if so.")


class ForgotPasswordIn(Schema):
    enabled: bool
    link_lifetime_minutes: int | None = Field(
        None, description="How long a reset link works, 10 to 1440. Absent: unchanged."
    )
    invitation_lifetime_days: int | None = Field(
        None, description="How long an invitation works, 1 to 30. Absent: unchanged."
    )


class ResetRequestIn(Schema):
    email: str = Field(description="Exactly one email address.", examples=["mike@example.org"])


class ResetRequestOut(Schema):
    message: str


class ResetConfirmIn(Schema):
    token: str = Field(description="The token from the reset link: /reset-password/<token>/.")
    new_password: str = Field(json_schema_extra={"writeOnly": True})
