from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

LINK_LIFETIME_MIN_MINUTES = 10
LINK_LIFETIME_MAX_MINUTES = 1440


class ForgotPasswordSettings(models.Model):
    """The Forgot Password switch and the reset link lifetime. There is one row (pk=1)."""

    enabled = models.BooleanField("Enable Forgot Password", default=False)
    link_lifetime_minutes = models.PositiveIntegerField(
        "Link lifetime (minutes)",
        default=60,
        validators=[
            MinValueValidator(LINK_LIFETIME_MIN_MINUTES),
            MaxValueValidator(LINK_LIFETIME_MAX_MINUTES),
        ],
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Forgot Password settings"
        verbose_name_plural = "Forgot Password settings"

    def __str__(self) -> str:
        return "Forgot Password " + ("on" if self.enabled else "off")


class ResetRequest(models.Model):
    """A forgot-password request waiting for the worker to look the address up.

    The request path stores only this row and a task; the worker resolves the address, then
    clears `address` so that the typed spelling is not kept.
    """

    address = models.CharField(max_length=254, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"reset request {self.pk} at {self.created_at:%Y-%m-%d %H:%M}"


class ResetLink(models.Model):
    """An issued reset link. The token itself is never stored: only its SHA-256 hash."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reset_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    # A digest of the account's password hash, email and active flag when the link was issued:
    # a change to any of them by any route voids the link.
    account_state = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at", "voided_at"])]

    def __str__(self) -> str:
        return f"reset link {self.pk} for user {self.user_id}"
