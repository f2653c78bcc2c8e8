"""The shapes of the mail server settings and the test mail in the JSON API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field, JsonValue

from .connection import default_ehlo_name
from .models import AuthMethod, MailServerSettings, Protocol
from .secrets import UndecryptableSecret
from .tokens import InvalidCredential, ServiceAccountKey

WRITE_ONLY: dict[str, JsonValue] = {"writeOnly": True}


class MailServerOut(Schema):
    host: str = Field(description="Server name.")
    port: int
    protocol: Protocol
    use_tls: bool = Field(description="Enable TLS (STARTTLS), for SMTP.")
    sender_name: str
    sender_email: str
    use_auth: bool
    auth_method: AuthMethod = Field(description="How the application logs in, with use_auth.")
    username: str = Field(
        description="Password: the login name. OAuth 2.0: the mailbox that sends. Google "
        "service account: the Workspace user it sends as."
    )
    allow_insecure_login: bool = Field(
        description="Allow login without TLS: whether the password or access token may be sent "
        "over a connection without TLS (SMTP with use_tls off). Off unless an administrator "
        "turned it on; otherwise such a login is refused before anything is sent."
    )
    token_url: str = Field(description="OAuth 2.0: where access tokens come from.")
    client_id: str = Field(description="OAuth 2.0: the application's client ID.")
    scope: str = Field(description="OAuth 2.0: the scope asked for.")
    password_set: bool = Field(description="Whether a password is saved. It is never shown.")
    has_password: bool = Field(description="The same as password_set, for older clients.")
    client_secret_set: bool = Field(
        description="Whether an OAuth 2.0 client secret is saved. It is never shown."
    )
    client_certificate_set: bool = Field(
        description="Whether an OAuth 2.0 client certificate is saved. It is never shown."
    )
    service_account_key_set: bool = Field(
        description="Whether a Google service account key is saved. It is never shown."
    )
    service_account_email: str = Field(
        description="The client_email of the saved service account key (not a secret), or empty."
    )
    unreadable_secrets: list[str] = Field(
        description="The saved secrets in use (password, client_secret, client_certificate, "
        "service_account_key) that the current encryption keys cannot decrypt: each must be "
        "entered again. Empty while every saved secret can be read."
    )
    ca_certificate: str
    ehlo_name: str = Field(
        description="EHLO name: the name the mail server is greeted with; empty greets with the "
        "host of AUTOMMATE_BASE_URL (ehlo_name_in_use)."
    )
    ehlo_name_in_use: str = Field(description="The name the next conversation greets with.")
    send_rate_per_minute: int | None = Field(
        description="Send rate limit: at most this many mails a minute, across every worker; "
        "null for no limit."
    )
    max_connections: int | None = Field(
        description="Send rate limit: at most this many connections to the mail server at once, "
        "across every worker; null for each worker's AUTOMMATE_DELIVERY_CONNECTIONS."
    )
    is_configured: bool
    verified: bool = Field(
        description="Whether the delivery of a test mail was confirmed for these settings."
    )
    verified_at: datetime | None
    updated_at: datetime | None

    @staticmethod
    def resolve_ehlo_name_in_use(mail_server: MailServerSettings) -> str:
        return mail_server.ehlo_name.strip() or default_ehlo_name()

    @staticmethod
    def resolve_verified(mail_server: MailServerSettings) -> bool:
        return mail_server.is_verified

    @staticmethod
    def resolve_unreadable_secrets(mail_server: MailServerSettings) -> list[str]:
        return mail_server.unreadable_secrets()

    @staticmethod
    def resolve_password_set(mail_server: MailServerSettings) -> bool:
        return mail_server.has_secret("password")

    @staticmethod
    def resolve_client_secret_set(mail_server: MailServerSettings) -> bool:
        return mail_server.has_secret("client_secret")

    @staticmethod
    def resolve_client_certificate_set(mail_server: MailServerSettings) -> bool:
        return mail_server.has_secret("client_certificate")

    @staticmethod
    def resolve_service_account_key_set(mail_server: MailServerSettings) -> bool:
        return mail_server.has_secret("service_account_key")

    @staticmethod
    def resolve_service_account_email(mail_server: MailServerSettings) -> str:
        if not mail_server.has_secret("service_account_key"):
            return ""
        try:
            return ServiceAccountKey.parse(mail_server.secret("service_account_key")).client_email
        except (UndecryptableSecret, InvalidCredential):
            # A key saved under a retired encryption key, or no longer readable, names no one;
            # the test mail says what to do about it.
            return ""


# Formats and combinations are checked by the same form as on the page, for the same messages.
class MailServerIn(Schema):
    host: str = Field(description="Server name.", examples=["smtp.example.org"])
    port: int = Field(examples=[587])
    protocol: Protocol = Field(examples=["smtp"])
    use_tls: bool = Field(description="Enable TLS (STARTTLS); SMTP only.", examples=[True])
    sender_name: str = Field("Autom Mate", examples=["Autom Mate"])
    sender_email: str = Field(examples=["noreply@example.org"])
    use_auth: bool = False
    auth_method: AuthMethod = Field(
        AuthMethod.PASSWORD,
        description="How to log in when use_auth is on: password (the default), oauth2 (the "
        "client credentials grant, such as Microsoft 365) or google-service-account (Google "
        "Workspace, domain-wide delegation). The secrets of the other methods are removed.",
        examples=["password"],
    )
    username: str = Field(
        "",
        description="Password: the login name. OAuth 2.0: the mailbox that sends. Google "
        "service account: the Workspace user it sends as.",
    )
    password: str | None = Field(
        None,
        description="Write-only. Empty or absent keeps the saved password, which is only ever "
        "sent to the server, port and username it was saved for.",
        json_schema_extra=WRITE_ONLY,
    )
    allow_insecure_login: bool | None = Field(
        None,
        description="Allow login without TLS: send the password or access token over a "
        "connection without TLS (SMTP with use_tls off), in clear. Only for a server on a "
        "network you trust. Absent keeps the saved value; it is turned off whenever the "
        "connection uses TLS or there is no login. Turning it on or off needs the password "
        "again.",
    )
    token_url: str = Field(
        "",
        description="OAuth 2.0: where access tokens come from (https only).",
        examples=["https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"],
    )
    client_id: str = Field("", description="OAuth 2.0: the application's client ID.")
    client_secret: str | None = Field(
        None,
        description="OAuth 2.0, write-only: the client secret's value. Empty or absent keeps the "
        "saved one, which is only ever sent to the token URL and client ID it was saved for.",
        json_schema_extra=WRITE_ONLY,
    )
    client_certificate: str | None = Field(
        None,
        description="OAuth 2.0, write-only, instead of a client secret: the PEM private key (RSA) "
        "followed by its certificate. Empty or absent keeps the saved one.",
        json_schema_extra=WRITE_ONLY,
    )
    scope: str = Field(
        "",
        description="OAuth 2.0: the scope to ask for.",
        examples=["https://outlook.office365.com/.default"],
    )
    service_account_key: str | None = Field(
        None,
        description="Google service account, write-only: the JSON key file's text. Empty or "
        "absent keeps the saved one.",
        json_schema_extra=WRITE_ONLY,
    )
    ca_certificate: str = Field(
        "", description="PEM of a private CA, if the server (or the token URL) uses one."
    )
    ehlo_name: str | None = Field(
        None,
        description="EHLO name: a fully-qualified host name (or an address literal such as "
        "[192.0.2.1]) to greet the mail server with. Empty greets with the host of "
        "AUTOMMATE_BASE_URL; absent keeps the saved value.",
        examples=["autommate.example.org"],
    )
    send_rate_per_minute: int | None = Field(
        None,
        description="Send rate limit: at most this many mails a minute (1 to 10,000), across "
        "every worker; null for no limit; absent keeps the saved value. Changing it keeps "
        "verified settings verified.",
        examples=[30],
    )
    max_connections: int | None = Field(
        None,
        description="Send rate limit: at most this many connections at once (1 to 20), across "
        "every worker; null for each worker's AUTOMMATE_DELIVERY_CONNECTIONS; absent keeps the "
        "saved value. Changing it keeps verified settings verified.",
        examples=[3],
    )


class TestMailIn(Schema):
    recipient: str = Field(
        description="A mailbox you can read: the mail carries a code.",
        examples=["ops@example.org"],
    )
    settings: MailServerIn | None = Field(
        None,
        description="Settings to test before saving them; confirming the mailed code saves "
        "exactly these settings, verified. Absent: the saved settings.",
    )


class StepOut(Schema):
    name: str = Field(
        description="resolve, connect, tls, greeting, token, login, sender, recipient or "
        "message. The token step (get an access token) is there for OAuth 2.0 and Google "
        "service account logins only."
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
