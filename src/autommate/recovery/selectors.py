from __future__ import annotations

from .models import ForgotPasswordSettings


def forgot_password_settings_get() -> ForgotPasswordSettings:
    """Return the Forgot Password settings, read at use time (administrators change them)."""
    return ForgotPasswordSettings.objects.filter(pk=1).first() or ForgotPasswordSettings(pk=1)


def forgot_password_enabled() -> bool:
    return forgot_password_settings_get().enabled
