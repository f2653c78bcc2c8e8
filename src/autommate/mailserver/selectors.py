from __future__ import annotations

import json
from dataclasses import dataclass

from django.utils import timezone

from autommate.delivery.pacing import SendLimits

from .models import EDITABLE_FIELDS, LastWorkingMailServer, MailServerSettings, TestMailCode
from .secrets import UndecryptableSecret, decrypt, unreadable_message


def mail_server_get() -> MailServerSettings:
    """Return the saved mail server settings (unsaved defaults when there are none yet)."""
    return MailServerSettings.objects.filter(pk=1).first() or MailServerSettings(pk=1)


def unreadable_secret_messages(mail_server: MailServerSettings) -> list[str]:
    """Return, for each saved secret in use that the current encryption keys cannot decrypt,
    what the administrator must do: enter it again."""
    return [unreadable_message(name) for name in mail_server.unreadable_secrets()]


def waiting_test_mail(mail_server: MailServerSettings) -> TestMailCode | None:
    """Return the newest test mail whose code can still confirm the saved, unverified settings."""
    if not mail_server.is_configured or mail_server.is_verified:
        return None
    fingerprint = mail_server.fingerprint_if_readable()
    if not fingerprint:
        return None
    return (
        TestMailCode.objects.filter(
            fingerprint=fingerprint, used_at__isnull=True, expires_at__gt=timezone.now()
        )
        .order_by("-created_at")
        .first()
    )


@dataclass(frozen=True)
class LastWorking:
    """The last mail settings that worked, with the secrets they logged in with, in clear."""

    mail_server: MailServerSettings
    secrets: dict[str, str]
    fingerprint: str
    server: str


def last_working_get() -> LastWorking | None:
    """Return the last mail settings through which a mail was accepted, or None when there
    are none (or they cannot be read with the current encryption keys)."""
    kept = LastWorkingMailServer.objects.filter(pk=1).first()
    if kept is None:
        return None
    try:
        values = json.loads(decrypt(kept.values_encrypted, name="last working settings"))
    except (UndecryptableSecret, ValueError):
        return None
    mail_server = MailServerSettings(pk=None)
    for name in EDITABLE_FIELDS:
        if name in values:
            setattr(mail_server, name, values[name])
    secrets = {name: str(value) for name, value in values.get("secrets", {}).items()}
    return LastWorking(mail_server, secrets, kept.fingerprint, kept.server)


def send_limits_get() -> SendLimits:
    """Return the saved send rate limit, for delivery (registered in this app's `ready()`)."""
    row = (
        MailServerSettings.objects.filter(pk=1)
        .values_list("send_rate_per_minute", "max_connections")
        .first()
    )
    if row is None:
        return SendLimits()
    return SendLimits(per_minute=row[0], connections=row[1])
