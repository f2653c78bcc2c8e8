from __future__ import annotations

from .models import MailServerSettings
from .secrets import unreadable_message


def mail_server_get() -> MailServerSettings:
    """Return the saved mail server settings (unsaved defaults when there are none yet)."""
    return MailServerSettings.objects.filter(pk=1).first() or MailServerSettings(pk=1)


def unreadable_secret_messages(mail_server: MailServerSettings) -> list[str]:
    """Return, for each saved secret in use that the current encryption keys cannot decrypt,
    what the administrator must do: enter it again."""
    return [unreadable_message(name) for name in mail_server.unreadable_secrets()]
