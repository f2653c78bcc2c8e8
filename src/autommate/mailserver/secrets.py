"""Encryption of the mail server's secrets at rest (password, client secret and certificate,
service account key), with the keys from AUTOMMATE_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys can be rotated by putting a new one first.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

SECRET_LABELS = {
    "password": "password",
    "client_secret": "client secret",
    "client_certificate": "client certificate",
    "service_account_key": "service account key",
}


class UndecryptableSecret(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""

    def __init__(self, message: str, *, name: str = "password") -> None:
        super().__init__(message)
        self.name = name  # The field: password, client_secret, …
        self.label = SECRET_LABELS.get(name, name)  # In words: password, client secret, …


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    # Imported here: the cryptography library costs each process several MiB, and most
    # processes (every web worker serving pages, a worker sending without a login) never
    # encrypt or decrypt.
    from cryptography.fernet import Fernet, MultiFernet

    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "AUTOMMATE_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes), "
            "comma-separated. Generate one with: python3 -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'"
        ) from None


def encrypt(plaintext: str) -> str:
    return _fernet(tuple(settings.ENCRYPTION_KEYS)).encrypt(plaintext.encode()).decode()


def unreadable_message(name: str) -> str:
    """Return what to tell an administrator whose saved secret `name` cannot be decrypted."""
    if name == "client_secret":
        return _(
            "The saved client secret cannot be read with the current encryption keys: it was "
            "saved under a key that AUTOMMATE_ENCRYPTION_KEYS no longer holds. Enter the client "
            "secret again and save."
        )
    if name == "client_certificate":
        return _(
            "The saved client certificate cannot be read with the current encryption keys: it "
            "was saved under a key that AUTOMMATE_ENCRYPTION_KEYS no longer holds. Enter the "
            "client certificate again and save."
        )
    if name == "service_account_key":
        return _(
            "The saved service account key cannot be read with the current encryption keys: it "
            "was saved under a key that AUTOMMATE_ENCRYPTION_KEYS no longer holds. Enter the "
            "service account key again and save."
        )
    if name == "password":
        return _(
            "The saved password cannot be read with the current encryption keys: it was saved "
            "under a key that AUTOMMATE_ENCRYPTION_KEYS no longer holds. Enter the password "
            "again and save."
        )
    return _(
        "The saved %(name)s cannot be read with the current encryption keys: it was saved under "
        "a key that AUTOMMATE_ENCRYPTION_KEYS no longer holds."
    ) % {"name": name}


def decrypt(ciphertext: str, *, name: str = "password") -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(tuple(settings.ENCRYPTION_KEYS)).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(unreadable_message(name), name=name) from None
