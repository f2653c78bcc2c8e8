from __future__ import annotations

import hashlib
import hmac
import json
from email.headerregistry import Address

from django.conf import settings
from django.db import models
from django.utils import timezone


class Protocol(models.TextChoices):
    SMTP = "smtp", "SMTP"
    SMTPS = "smtps", "SMTPS"


# The fields an administrator edits, on the page, in the API and with `autommate mailserver set`.
EDITABLE_FIELDS = (
    "host",
    "port",
    "protocol",
    "use_tls",
    "sender_name",
    "sender_email",
    "use_auth",
    "username",
    "ca_certificate",
)


class MailServerSettings(models.Model):
    """The outgoing mail server, as the administrator saved it. There is one row (pk=1)."""

    host = models.CharField("Server name", max_length=253, blank=True)
    port = models.PositiveIntegerField("Port", default=587)
    protocol = models.CharField(
        "Protocol", max_length=5, choices=Protocol.choices, default=Protocol.SMTP
    )
    use_tls = models.BooleanField("Enable TLS", default=True)
    sender_name = models.CharField("Sender name", max_length=100, default="Autom Mate")
    sender_email = models.EmailField("Sender email", max_length=254, blank=True)
    use_auth = models.BooleanField("Use authentication", default=False)
    username = models.CharField("Username", max_length=254, blank=True)
    password_encrypted = models.TextField(blank=True)
    ca_certificate = models.TextField("CA certificate", blank=True)
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
        """Return the From header: the configured sender name and email, safely encoded."""
        local, _, domain = self.sender_email.rpartition("@")
        return str(Address(display_name=self.sender_name, username=local, domain=domain))

    @property
    def is_configured(self) -> bool:
        return bool(self.host and self.sender_email)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def is_verified(self) -> bool:
        return bool(self.verified_fingerprint) and hmac.compare_digest(
            self.verified_fingerprint, self.fingerprint()
        )

    def password(self) -> str:
        from .secrets import decrypt

        return decrypt(self.password_encrypted) if self.password_encrypted else ""

    def fingerprint(self, password: str | None = None) -> str:
        """Return a keyed digest of everything that decides whether mail gets through."""
        values = {
            "host": self.host.strip().lower(),
            "port": self.port,
            "protocol": self.protocol,
            "use_tls": self.use_tls,
            "sender_email": self.sender_email.strip().lower(),
            "use_auth": self.use_auth,
            "username": self.username if self.use_auth else "",
            "password": (self.password() if password is None else password)
            if self.use_auth
            else "",
            "ca_certificate": self.ca_certificate.strip(),
        }
        payload = json.dumps(values, sort_keys=True).encode()
        key = hashlib.sha256(b"mail-server-fingerprint:" + settings.SECRET_KEY.encode()).digest()
        return hmac.new(key, payload, hashlib.sha256).hexdigest()


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

    def __str__(self) -> str:
        return f"test mail to {self.recipient} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()
