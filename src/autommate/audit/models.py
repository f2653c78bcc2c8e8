from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    SIGN_IN = "sign_in", _("Logged in")
    SIGN_IN_FAILED = "sign_in_failed", _("Login failed")
    SIGN_IN_LOCKED = "sign_in_locked", _("Login locked")
    SIGN_IN_UNLOCKED = "sign_in_unlocked", _("Login unlocked")
    SIGN_OUT = "sign_out", _("Logged out")
    USER_CREATED = "user_created", _("User created")
    USER_CHANGED = "user_changed", _("User changed")
    USER_DEACTIVATED = "user_deactivated", _("User deactivated")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    MAIL_SETTINGS_CHANGED = "mail_settings_changed", _("Mail settings changed")
    TEST_MAIL_SENT = "test_mail_sent", _("Test mail sent")
    TEST_MAIL_CONFIRMED = "test_mail_confirmed", _("Test mail delivery confirmed")
    FORGOT_PASSWORD_SWITCHED = "forgot_password_switched", _("Forgot Password switched")
    RESET_REQUESTED = "reset_requested", _("Reset requested")
    RESET_MAIL_SENT = "reset_mail_sent", _("Reset mail sent")
    RESET_MAIL_FAILED = "reset_mail_failed", _("Reset mail failed")
    RESET_COMPLETED = "reset_completed", _("Reset completed")
    RESET_LINK_INVALID = "reset_link_invalid", _("Invalid reset link used")
    RESET_LINK_SENT = "reset_link_sent", _("Reset link sent by an administrator")
    INVITATION_SENT = "invitation_sent", _("Invitation sent")
    INVITATION_RESENT = "invitation_resent", _("Invitation resent")
    INVITATION_USED = "invitation_used", _("Invitation used")
    INVITATION_EXPIRED = "invitation_expired", _("Invitation expired")
    RATE_LIMITED = "rate_limited", _("Rate limit hit")
    API_TOKEN_CREATED = "api_token_created", _("API token created")
    API_TOKEN_REVOKED = "api_token_revoked", _("API token revoked")


class AuditEvent(models.Model):
    """Who did what, when, from where. Never a token, a password or a link."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    target = models.CharField(max_length=254, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # An event that repeats (a rate limit refusing one client again and again) is one row that
    # counts: `at` is its first occurrence, `last_at` its latest, `count` how many there were.
    count = models.PositiveIntegerField(default=1)
    last_at = models.DateTimeField(null=True, blank=True)
    # Names the row that repeats of one kind, key and window count on (a keyed hash, never the key).
    repeat_key = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.actor_label}"
