"""Reads of Forgot Password: its settings, whether it can be switched on, and reset links."""

from __future__ import annotations

from typing import Any

from autommate.mailserver.selectors import mail_server_get

from .models import ForgotPasswordSettings


def forgot_password_settings_get() -> ForgotPasswordSettings:
    """Return the Forgot Password settings, read at use time (administrators change them)."""
    return ForgotPasswordSettings.objects.filter(pk=1).first() or ForgotPasswordSettings(pk=1)


def forgot_password_enabled() -> bool:
    return forgot_password_settings_get().enabled


def mail_not_ready_reason() -> str:
    """Return why Forgot Password cannot be switched on now, or an empty string."""
    mail_server = mail_server_get()
    if not mail_server.is_configured:
        return "Configure the mail server first: Forgot Password sends its links by email."
    if not mail_server.is_verified:
        return (
            "Confirm the delivery of a test mail for the mail settings as they are saved now: "
            "send a test mail, then enter the code it contains."
        )
    return ""


def forgot_password_state() -> dict[str, Any]:
    """Return the switch, the link lifetime, and whether (or why not) it can be switched on."""
    current = forgot_password_settings_get()
    reason = mail_not_ready_reason()
    return {
        "enabled": current.enabled,
        "link_lifetime_minutes": current.link_lifetime_minutes,
        "mail_ready": not reason,
        "not_ready_reason": reason,
    }
