from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

LINK_LIFETIME_MIN_MINUTES = 10
LINK_LIFETIME_MAX_MINUTES = 1440
INVITATION_LIFETIME_MIN_DAYS = 1
INVITATION_LIFETIME_MAX_DAYS = 30


class ForgotPasswordSettings(models.Model):
    """The Forgot Password switch and the lifetimes of reset links and invitations.

    There is one row (pk=1). Invitations work whether or not Forgot Password is switched on.
    """

    enabled = models.BooleanField(_("Enable Forgot Password"), default=False)
    link_lifetime_minutes = models.PositiveIntegerField(
        _("Link lifetime (minutes)"),
        default=60,
        validators=[
            MinValueValidator(LINK_LIFETIME_MIN_MINUTES),
            MaxValueValidator(LINK_LIFETIME_MAX_MINUTES),
        ],
    )
    invitation_lifetime_days = models.PositiveIntegerField(
        _("Invitation lifetime (days)"),
        default=7,
        validators=[
            MinValueValidator(INVITATION_LIFETIME_MIN_DAYS),
            MaxValueValidator(INVITATION_LIFETIME_MAX_DAYS),
        ],
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Forgot Password settings")
        verbose_name_plural = _("Forgot Password settings")

    def __str__(self) -> str:
        return "Forgot Password " + ("on" if self.enabled else "off")


class ResetRequest(models.Model):
    """A forgot-password request waiting for the worker to look the address up.

    The request path stores only this row and a task; the worker resolves the address, then
    clears `address` so that the typed spelling is not kept.
    """

    address = models.CharField(max_length=254, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # The language Forgot Password was shown in: the mail's, unless the user chose their own.
    language = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The worker looks for requests still waiting at every claim of a delivery.
            models.Index(
                fields=["id"],
                condition=models.Q(processed_at__isnull=True),
                name="resetrequest_waiting",
            )
        ]

    def __str__(self) -> str:
        return f"reset request {self.pk} at {self.created_at:%Y-%m-%d %H:%M}"


class LinkKind(models.TextChoices):
    RESET = "reset", _("Reset link")
    INVITATION = "invitation", _("Invitation")


class ResetLink(models.Model):
    """An issued link that sets a password: a reset link or an invitation.

    The token itself is never stored: only its SHA-256 hash. A link sent by an administrator
    (an invitation, or a reset link from the user's page) is stored when it is sent, without a
    hash; the worker gives it its token when it composes the mail, so that the token exists
    only in the mail.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reset_links"
    )
    kind = models.CharField(max_length=10, choices=LinkKind.choices, default=LinkKind.RESET)
    # Sent from the user's page, the API or the command line rather than asked for on Forgot
    # Password: such a link works while Forgot Password is off and survives switching it off.
    by_administrator = models.BooleanField(default=False)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # A digest of the account's password hash, email and active flag when the link was issued:
    # a change to any of them by any route voids the link.
    account_state = models.CharField(max_length=64)
    # The language of the request the link answers (blank for a link an administrator sent):
    # the "password changed" notice after it is in it, unless the user chose their own.
    language = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    # When it was noted that this invitation expired unused (and its audit event recorded):
    # set once, by whichever comes first of the workers' sweep and someone opening the link.
    expiry_noted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "used_at", "voided_at"]),
            # What the sweep for expired invitations reads, and only that.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(
                    kind="invitation",
                    used_at__isnull=True,
                    voided_at__isnull=True,
                    expiry_noted_at__isnull=True,
                ),
                name="recovery_invitation_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display().lower()} {self.pk} for user {self.user_id}"

    @property
    def needs_forgot_password(self) -> bool:
        """Whether the link works only while Forgot Password is on: a reset link the user
        asked for. Invitations and links an administrator sent do not depend on the switch."""
        return self.kind == LinkKind.RESET and not self.by_administrator
