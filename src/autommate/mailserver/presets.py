"""Common mail providers, to fill in the mail server form."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy


@dataclass(frozen=True)
class Preset:
    key: str
    label: str | Promise
    host: str
    port: int
    protocol: str
    use_tls: bool
    use_auth: bool
    note: str | Promise = ""
    auth_method: str = "password"
    token_url: str = ""
    scope: str = ""
    # The provider's submission limits, to fill in the Send rate limit (None: none published).
    send_rate_per_minute: int | None = None
    max_connections: int | None = None


MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token"
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"

# Exchange Online's sending limits for SMTP AUTH client submission: 30 messages a minute per
# mailbox, 3 concurrent connections (Microsoft Learn, "Exchange Online limits", Sending limits).
MICROSOFT_SEND_RATE = 30
MICROSOFT_CONNECTIONS = 3
# Google publishes daily limits only, per rolling 24 hours: 2,000 messages a user for Google
# Workspace and 500 recipients for a Gmail account ("Gmail sending limits in Google Workspace",
# support.google.com/a/answer/166852; "Gmail sending limits", support.google.com/mail/answer/
# 22839), and no per-minute or connection figure for smtp.gmail.com. The values below are
# conservative choices of ours that keep a burst of resets quick while a runaway backlog cannot
# spend the day's allowance within an hour or two, over as few connections as Exchange allows.
GOOGLE_WORKSPACE_SEND_RATE = 20
GMAIL_SEND_RATE = 10
GOOGLE_CONNECTIONS = 3

PRESETS: tuple[Preset, ...] = (
    Preset(
        "microsoft365-oauth",
        gettext_lazy("Microsoft 365 (OAuth 2.0)"),
        "smtp.office365.com",
        587,
        "smtp",
        True,
        True,
        gettext_lazy(
            "Replace <tenant> in the token URL with your tenant ID or domain, then enter the "
            "application's client ID and its client secret or certificate. The username is the "
            "mailbox that sends."
        ),
        auth_method="oauth2",
        token_url=MICROSOFT_TOKEN_URL,
        scope=MICROSOFT_SCOPE,
        send_rate_per_minute=MICROSOFT_SEND_RATE,
        max_connections=MICROSOFT_CONNECTIONS,
    ),
    Preset(
        "google-service-account",
        gettext_lazy("Google Workspace (service account)"),
        "smtp.gmail.com",
        587,
        "smtp",
        True,
        True,
        gettext_lazy(
            "Paste the service account's JSON key; the username is the Workspace user it sends as. "
            "The service account needs domain-wide delegation for https://mail.google.com/."
        ),
        auth_method="google-service-account",
        send_rate_per_minute=GOOGLE_WORKSPACE_SEND_RATE,
        max_connections=GOOGLE_CONNECTIONS,
    ),
    Preset(
        "gmail",
        "Gmail",
        "smtp.gmail.com",
        587,
        "smtp",
        True,
        True,
        gettext_lazy(
            "Google ended password sign-in for less secure apps on 1 May 2025; app passwords need "
            "2-Step Verification and are not recommended. For Google Workspace choose Google "
            "Workspace (service account). The username is the full Gmail address."
        ),
        send_rate_per_minute=GMAIL_SEND_RATE,
        max_connections=GOOGLE_CONNECTIONS,
    ),
    Preset(
        "microsoft365",
        "Microsoft 365",
        "smtp.office365.com",
        587,
        "smtp",
        True,
        True,
        gettext_lazy(
            "Microsoft turns password sign-in (Basic authentication) for SMTP off by default at "
            "the end of December 2026 and removes it in 2027: choose Microsoft 365 (OAuth 2.0) "
            "instead."
        ),
        send_rate_per_minute=MICROSOFT_SEND_RATE,
        max_connections=MICROSOFT_CONNECTIONS,
    ),
    Preset(
        "ses",
        gettext_lazy("Amazon SES (us-east-1)"),
        "email-smtp.us-east-1.amazonaws.com",
        587,
        "smtp",
        True,
        True,
        gettext_lazy("Use SES SMTP credentials; change the region in the server name."),
    ),
    Preset(
        "sendgrid",
        "SendGrid",
        "smtp.sendgrid.net",
        587,
        "smtp",
        True,
        True,
        gettext_lazy("The username is the word apikey; the password is the API key."),
    ),
    Preset(
        "mailgun",
        "Mailgun",
        "smtp.mailgun.org",
        587,
        "smtp",
        True,
        True,
        gettext_lazy("Use the SMTP credentials of your Mailgun domain."),
    ),
    Preset(
        "relay",
        gettext_lazy("Local relay (port 25)"),
        "localhost",
        25,
        "smtp",
        False,
        False,
        gettext_lazy(
            "A mail relay on this machine or network that accepts mail without a password."
        ),
    ),
)


def presets_as_dicts() -> list[dict[str, object]]:
    """Return the presets as the page's script reads them, in the active language."""
    return [
        {name: str(value) if isinstance(value, Promise) else value for name, value in row.items()}
        for row in (asdict(preset) for preset in PRESETS)
    ]
