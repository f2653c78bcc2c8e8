"""System checks of the mail server, shown by `autommate check` and at start.

Loopback, private and other special-purpose addresses are refused unless an operator allows
them. An installation whose saved mail server (or token URL) is on such an address would stop
sending after an upgrade; these checks say so, and what to set, before any mail fails. With
`--deploy`, a warning while the secrets at rest are encrypted with a key derived from the secret
key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError

from .connection import resolve_within
from .destinations import (
    MAIL_SERVER,
    TOKEN_URL,
    VARIABLE,
    DestinationRefused,
    allowed_destinations,
    check_destination,
)

# Starting a command must not hang on a slow resolver; a name not resolved in time is not judged.
RESOLVE_SECONDS = 3.0
TAGS = ("autommate", "mailserver")


@register(*TAGS)
def check_allowed_destinations(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report entries of AUTOMMATE_MAIL_ALLOWED_DESTINATIONS that cannot be read."""
    return [
        Error(
            f"{VARIABLE} holds {entry!r}, which is not a host name, an address or a network, "
            "with or without a port.",
            hint="Write entries as public, smtp.example.org, *.example.org, 10.0.0.0/8, "
            "127.0.0.1:25, [::1]:25 or 10.0.0.0/8:587, separated by commas.",
            id="mailserver.E001",
        )
        for entry in allowed_destinations().invalid
    ]


@register(*TAGS)
def check_saved_destinations(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the saved mail server or token URL is at an address that is now refused."""
    try:
        targets = _saved_targets()
    except DatabaseError:
        # Not migrated yet, or no database to read: there is nothing saved to check.
        return []
    messages: list[CheckMessage] = []
    for role, host, port in targets:
        try:
            addresses = resolve_within(host, port, RESOLVE_SECONDS)
        except OSError:
            # Unknown or slow names are explained by the test mail and the mail log.
            continue
        try:
            check_destination(host, addresses, port=port, role=role)
        except DestinationRefused as refused:
            messages.append(
                Warning(
                    f"{refused} No mail is sent until this changes.",
                    hint=refused.how_to_allow,
                    id="mailserver.W001",
                )
            )
    return messages


def _saved_targets() -> list[tuple[str, str, int]]:
    from .models import AuthMethod, MailServerSettings

    saved = MailServerSettings.objects.filter(pk=1).first()
    if saved is None or not saved.host.strip():
        return []
    targets = [(MAIL_SERVER, saved.host.strip(), int(saved.port))]
    if saved.use_auth and saved.auth_method == AuthMethod.OAUTH2 and saved.token_url.strip():
        try:
            parts = urlsplit(saved.token_url.strip())
            port = parts.port or 443
        except ValueError:
            return targets
        if parts.hostname:
            targets.append((TOKEN_URL, parts.hostname, port))
    return targets


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
