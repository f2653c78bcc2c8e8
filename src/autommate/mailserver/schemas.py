"""The shapes of the mail server settings and the test mail in the JSON API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field, JsonValue

from .models import MailServerSettings, Protocol

WRITE_ONLY: dict[str, JsonValue] = {"writeOnly": True}


class MailServerOut(Schema):
    host: str = Field(description="Server name.")
    port: int
    protocol: Protocol
    use_tls: bool = Field(description="Enable TLS (STARTTLS), for SMTP.")
    sender_name: str
    sender_email: str
    use_auth: bool
    username: str
    has_password: bool = Field(description="Whether a password is saved. It is never shown.")
    ca_certificate: str
    is_configured: bool
    verified: bool = Field(
        description="Whether the delivery of a test mail was confirmed for these settings."
    )
    verified_at: datetime | None
    updated_at: datetime | None

    @staticmethod
    def resolve_verified(mail_server: MailServerSettings) -> bool:
        return mail_server.is_verified


# Formats and combinations are checked by the same form as on the page, for the same messages.
class MailServerIn(Schema):
    host: str = Field(description="Server name.", examples=["smtp.example.org"])
    port: int = Field(examples=[587])
    protocol: Protocol = Field(examples=["smtp"])
    use_tls: bool = Field(description="Enable TLS (STARTTLS); SMTP only.", examples=[True])
    sender_name: str = Field("Autom Mate", examples=["Autom Mate"])
    sender_email: str = Field(examples=["noreply@example.org"])
    use_auth: bool = False
    username: str = ""
    password: str | None = Field(
        None,
        description="Write-only. Empty or absent keeps the saved password, which is only ever "
        "sent to the server, port and username it was saved for.",
        json_schema_extra=WRITE_ONLY,
    )
    ca_certificate: str = Field("", description="PEM of a private CA, if the server uses one.")


class TestMailIn(Schema):
    recipient: str = Field(
        description="A mailbox you can read: the mail carries a code.",
        examples=["ops@example.org"],
    )
    settings: MailServerIn | None = Field(
        None, description="Settings to test before saving them. Absent: the saved settings."
    )


class StepOut(Schema):
    name: str = Field(
        description="resolve, connect, tls, greeting, login, sender, recipient or message."
    )
    label: str
    status: str = Field(description="passed, failed or skipped.")
    detail: str
    cause: str = Field(description="For a failure: what went wrong, in plain words.")
    fix: str = Field(description="For a failure: what to change.")


class TestMailOut(Schema):
    ok: bool = Field(description="Whether the server accepted the test mail.")
    failed_step: str | None
    temporary: bool = Field(description="Whether the failure may go away by itself.")
    steps: list[StepOut]
    recipient: str
    tested_saved_settings: bool = Field(
        description="Whether the saved settings were tested (so its code can verify them)."
    )
    code_issued: bool


class ConfirmIn(Schema):
    code: str = Field(
        description="The confirmation code from the received test mail.", examples=["K7QM-2XPB"]
    )
