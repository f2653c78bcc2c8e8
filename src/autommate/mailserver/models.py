from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from email.headerregistry import Address

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autommate.header_text import check_header_text, first_unsafe_character, header_safe
from autommate.sentences import sentence as gettext

from .fingerprints import released_values, settings_fingerprint

# A domain name in ASCII (RFC 5321's Domain), or an address literal in brackets.
_EHLO_NAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"|\[(?:IPv6:[0-9A-Fa-f:.]+|[0-9.]+)\]",
    re.ASCII,
)


class UnusableSenderEmail(ValueError):
    """The saved sender email holds a character that no mail header can carry."""


class Protocol(models.TextChoices):
    SMTP = "smtp", "SMTP"
    SMTPS = "smtps", "SMTPS"


class AuthMethod(models.TextChoices):
    """How the application logs in to the mail server when Use authentication is on."""

    PASSWORD = "password", _("Password")
    OAUTH2 = "oauth2", "OAuth 2.0"
    GOOGLE_SERVICE_ACCOUNT = "google-service-account", _("Google service account")


# The fields an administrator edits, on the page, in the API and with `autommate mailserver set`.
EDITABLE_FIELDS = (
    "host",
    "port",
    "protocol",
    "use_tls",
    "sender_name",
    "sender_email",
    "use_auth",
    "auth_method",
    "username",
    "allow_insecure_login",
    "token_url",
    "client_id",
    "scope",
    "ca_certificate",
    "ehlo_name",
    "send_rate_per_minute",
    "max_connections",
)

# The send rate limit: how fast mail goes out, not whether it gets through. Changing it is a
# settings change (audited) that leaves verified settings verified.
SEND_RATE_MAX_PER_MINUTE = 10_000
MAX_CONNECTIONS_LIMIT = 20

# The fields that go into a mail header or an SMTP command, with their names in messages.
HEADER_FIELDS = {
    "sender_name": _("The sender name"),
    "sender_email": _("The sender email"),
    "username": _("The username"),
}

# The write-only secrets, each stored encrypted in `<name>_encrypted`.
SECRET_FIELDS = ("password", "client_secret", "client_certificate", "service_account_key")

# The secrets each authentication method logs in with; a saved secret no method uses is removed.
METHOD_SECRETS: dict[str, tuple[str, ...]] = {
    AuthMethod.PASSWORD: ("password",),
    AuthMethod.OAUTH2: ("client_secret", "client_certificate"),
    AuthMethod.GOOGLE_SERVICE_ACCOUNT: ("service_account_key",),
}


class MailServerSettings(models.Model):
    """The outgoing mail server, as the administrator saved it. There is one row (pk=1)."""

    host = models.CharField(_("Server name"), max_length=253, blank=True)
    port = models.PositiveIntegerField(_("Port"), default=587)
    protocol = models.CharField(
        _("Protocol"), max_length=5, choices=Protocol.choices, default=Protocol.SMTP
    )
    use_tls = models.BooleanField(_("Enable TLS"), default=True)
    sender_name = models.CharField(_("Sender name"), max_length=100, default="Autom Mate")
    sender_email = models.EmailField(_("Sender email"), max_length=254, blank=True)
    use_auth = models.BooleanField(_("Use authentication"), default=False)
    auth_method = models.CharField(
        _("Authentication method"),
        max_length=32,
        choices=AuthMethod.choices,
        default=AuthMethod.PASSWORD,
    )
    username = models.CharField(_("Username"), max_length=254, blank=True)
    # Without TLS, a login sends the password (or the access token) in clear: only on request.
    allow_insecure_login = models.BooleanField(_("Allow login without TLS"), default=False)
    password_encrypted = models.TextField(blank=True)
    # OAuth 2.0, the client credentials grant: where tokens come from and who asks for them.
    token_url = models.CharField(_("Token URL"), max_length=2000, blank=True)
    client_id = models.CharField(_("Client ID"), max_length=255, blank=True)
    client_secret_encrypted = models.TextField(blank=True)
    client_certificate_encrypted = models.TextField(blank=True)
    scope = models.CharField(_("Scope"), max_length=1000, blank=True)
    # Google service account: the JSON key, which also names its token URL.
    service_account_key_encrypted = models.TextField(blank=True)
    ca_certificate = models.TextField(_("CA certificate"), blank=True)
    # The name said in EHLO; empty greets with the host of AUTOMMATE_BASE_URL.
    ehlo_name = models.CharField(
        _("EHLO name"),
        max_length=253,
        blank=True,
        help_text=_(
            "The name this installation greets the mail server with. Leave empty to use "
            "the host of the public address. Servers that insist on a fully-qualified name refuse "
            "names such as localhost."
        ),
    )
    # The provider's submission limits, respected by every worker together (delivery/pacing.py).
    # Empty: no limit on the rate; AUTOMMATE_DELIVERY_CONNECTIONS connections per worker.
    send_rate_per_minute = models.PositiveIntegerField(
        _("Messages per minute"),
        null=True,
        blank=True,
        help_text=_(
            "At most this many mails a minute, counted across every worker. Leave empty for no "
            "limit."
        ),
    )
    max_connections = models.PositiveSmallIntegerField(
        _("Maximum connections"),
        null=True,
        blank=True,
        help_text=_(
            "At most this many connections to the mail server at once, across every worker. "
            "Leave empty for each worker's own number (AUTOMMATE_DELIVERY_CONNECTIONS)."
        ),
    )
    timeout_seconds = models.PositiveSmallIntegerField(default=10)
    updated_at = models.DateTimeField(null=True, blank=True)
    # The fingerprint of the settings whose delivery an administrator confirmed.
    verified_fingerprint = models.CharField(max_length=64, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "mail server settings"
        verbose_name_plural = "mail server settings"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}" if self.host else "mail server (not configured)"

    @property
    def sender_address(self) -> str:
        """Return the From header: the configured sender name and email, safely encoded.

        A sender name saved before line breaks and control characters were refused has them
        turned into spaces, so that it cannot stop every mail; a sender email with one cannot
        be mended, and raises UnusableSenderEmail, which says what to do.
        """
        if first_unsafe_character(self.sender_email) is not None:
            raise UnusableSenderEmail(
                gettext(
                    "The saved sender email holds a line break or control character, which no mail "
                    "can carry."
                )
            )
        local, _, domain = self.sender_email.rpartition("@")
        name = header_safe(self.sender_name)
        return str(Address(display_name=name, username=local, domain=domain))

    def clean(self) -> None:
        """Refuse header fields that no mail header or SMTP command can carry."""
        errors: dict[str, ValidationError] = {}
        for name, label in HEADER_FIELDS.items():
            try:
                check_header_text(str(getattr(self, name)), str(label))
            except ValidationError as error:
                errors[name] = error
        name = self.ehlo_name.strip()
        if name and not _EHLO_NAME.fullmatch(name):
            errors["ehlo_name"] = ValidationError(
                gettext(
                    "Enter a host name such as mail.example.org (letters, digits, hyphens and "
                    "dots), or an address in brackets such as [192.0.2.1]."
                ),
                code="invalid",
            )
        rate = self.send_rate_per_minute
        if rate is not None and not 1 <= rate <= SEND_RATE_MAX_PER_MINUTE:
            errors["send_rate_per_minute"] = ValidationError(
                _("Enter a number of messages per minute from 1 to 10,000, or leave it empty."),
                code="invalid_send_rate",
            )
        connections = self.max_connections
        if connections is not None and not 1 <= connections <= MAX_CONNECTIONS_LIMIT:
            errors["max_connections"] = ValidationError(
                _("Enter a number of connections from 1 to 20, or leave it empty."),
                code="invalid_max_connections",
            )
        if errors:
            raise ValidationError(errors)

    @property
    def is_configured(self) -> bool:
        return bool(self.host and self.sender_email)

    @property
    def encrypted(self) -> bool:
        """Whether the connection is encrypted: SMTPS, or SMTP with Enable TLS (STARTTLS)."""
        return self.protocol == Protocol.SMTPS or bool(self.use_tls)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def uses_oauth(self) -> bool:
        """Whether the login is XOAUTH2 with an access token (OAuth 2.0 or a service account)."""
        return self.use_auth and self.auth_method != AuthMethod.PASSWORD

    def has_secret(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_encrypted"))

    def secret(self, name: str) -> str:
        """Return a saved secret in clear ("" when none is saved)."""
        from .secrets import decrypt

        ciphertext: str = getattr(self, f"{name}_encrypted")
        return decrypt(ciphertext, name=name) if ciphertext else ""

    def secrets_in_use(self) -> dict[str, str]:
        """Return the saved secrets of the chosen authentication method, decrypted."""
        if not self.use_auth:
            return {}
        return {name: self.secret(name) for name in METHOD_SECRETS[self.auth_method]}

    def unreadable_secrets(self) -> list[str]:
        """Return the names of the saved secrets in use that the configured encryption keys
        cannot decrypt (saved under a key that is lost or no longer configured)."""
        from .secrets import UndecryptableSecret

        unreadable = []
        for name in METHOD_SECRETS[self.auth_method] if self.use_auth else ():
            try:
                self.secret(name)
            except UndecryptableSecret:
                unreadable.append(name)
        return unreadable

    @property
    def is_verified(self) -> bool:
        fingerprint = self.fingerprint_if_readable()
        return bool(self.verified_fingerprint and fingerprint) and hmac.compare_digest(
            self.verified_fingerprint, fingerprint
        )

    def fingerprint_if_readable(self) -> str:
        """Return the fingerprint of the saved settings, or "" while a saved secret in use
        cannot be decrypted: such settings cannot send, so they match no confirmed test."""
        from .secrets import UndecryptableSecret

        try:
            return self.fingerprint()
        except UndecryptableSecret:
            return ""

    def password(self) -> str:
        return self.secret("password")

    def fingerprint(self, secrets: Mapping[str, str] | None = None) -> str:
        """Return a keyed digest of everything that decides whether mail gets through.

        `secrets` are the secrets in clear of settings not saved yet; by default the saved ones.
        """
        if secrets is None:
            secrets = self.secrets_in_use()
        values = released_values(self, secrets)
        # Every mail carries the sender name, so a name that cannot be sent is never verified.
        values["sender_name"] = self.sender_name.strip()
        # Only when on, so that settings verified before the flag existed stay verified.
        if self.allow_insecure_login:
            values["allow_insecure_login"] = True
        # A server may refuse the name mail greets it with, so a changed EHLO name needs a new
        # test; covered only when set, so that settings verified before it existed (greeting
        # with the default) stay verified.
        if ehlo_name := self.ehlo_name.strip():
            values["ehlo_name"] = ehlo_name.lower()
        return settings_fingerprint(values)


class TestMailCode(models.Model):
    """A delivery confirmation code sent in a test mail; only its hash is stored."""

    code_hash = models.CharField(max_length=64, unique=True)
    link_hash = models.CharField(max_length=64, unique=True)
    fingerprint = models.CharField(max_length=64)
    recipient = models.EmailField(max_length=254)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The tested values when they were not the saved ones (the API may test before saving),
    # encrypted as one JSON document with the secrets they logged in with: confirming the code
    # saves exactly what was tested.
    tested_values_encrypted = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"test mail to {self.recipient} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class LastWorkingMailServer(models.Model):
    """The last mail settings through which the mail server accepted a mail. One row (pk=1).

    When the saved settings fail for good, the alert to administrators goes through these. The
    values and the secrets they logged in with are one JSON document, encrypted with
    AUTOMMATE_ENCRYPTION_KEYS like the saved secrets; only the server's name and port are
    kept in clear, for the pages that say where the alert went.
    """

    fingerprint = models.CharField(max_length=64)
    server = models.CharField(max_length=300)
    values_encrypted = models.TextField()
    # When these settings were kept: the first mail accepted through them since the last change.
    kept_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "last working mail server settings"
        verbose_name_plural = "last working mail server settings"

    def __str__(self) -> str:
        return f"{self.server}, kept at {self.kept_at:%Y-%m-%d %H:%M}"
