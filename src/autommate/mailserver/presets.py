"""Common mail providers, to fill in the mail server form."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    host: str
    port: int
    protocol: str
    use_tls: bool
    use_auth: bool
    note: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset(
        "gmail",
        "Gmail",
        "smtp.gmail.com",
        587,
        "smtp",
        True,
        True,
        "Use an app password; the username is the full Gmail address.",
    ),
    Preset(
        "microsoft365",
        "Microsoft 365",
        "smtp.office365.com",
        587,
        "smtp",
        True,
        True,
        "SMTP AUTH must be enabled for the mailbox.",
    ),
    Preset(
        "ses",
        "Amazon SES (us-east-1)",
        "email-smtp.us-east-1.amazonaws.com",
        587,
        "smtp",
        True,
        True,
        "Use SES SMTP credentials; change the region in the server name.",
    ),
    Preset(
        "sendgrid",
        "SendGrid",
        "smtp.sendgrid.net",
        587,
        "smtp",
        True,
        True,
        "The username is the word apikey; the password is the API key.",
    ),
    Preset(
        "mailgun",
        "Mailgun",
        "smtp.mailgun.org",
        587,
        "smtp",
        True,
        True,
        "Use the SMTP credentials of your Mailgun domain.",
    ),
    Preset(
        "relay",
        "Local relay (port 25)",
        "localhost",
        25,
        "smtp",
        False,
        False,
        "A mail relay on this machine or network that accepts mail without a password.",
    ),
)


def presets_as_dicts() -> list[dict[str, object]]:
    return [asdict(preset) for preset in PRESETS]
