"""System checks of the mail server's secrets, run by `autommate check --deploy`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

ENCRYPTION_KEYS_DERIVED = Warning(
    "AUTOMMATE_ENCRYPTION_KEYS is not set: the mail server's secrets are encrypted with a key "
    "derived from AUTOMMATE_SECRET_KEY.",
    hint="Set AUTOMMATE_ENCRYPTION_KEYS to a Fernet key of its own, generated with: python3 -c "
    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'. Then "
    "enter the mail server's password (or other secret) again, since it was saved under the "
    "derived key. A key of its own lets the secret key be rotated without losing the secrets, "
    "and keeps a leaked secret key from decrypting them.",
    id="autommate.W001",
)


@register(Tags.security, deploy=True)
def encryption_keys_configured(**kwargs: Any) -> list[CheckMessage]:
    """Warn while the secrets at rest are encrypted with the development key."""
    return [ENCRYPTION_KEYS_DERIVED] if settings.ENCRYPTION_KEYS_DERIVED else []
