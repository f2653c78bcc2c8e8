from __future__ import annotations

from .models import MailServerSettings


def mail_server_get() -> MailServerSettings:
    """Return the saved mail server settings (unsaved defaults when there are none yet)."""
    return MailServerSettings.objects.filter(pk=1).first() or MailServerSettings(pk=1)
