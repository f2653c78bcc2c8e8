"""Encryption of the mail server's secrets at rest (password, client secret and certificate,
service account key), with the keys from AUTOMMATE_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys can be rotated by putting a new one first.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class UndecryptableSecret(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""

    def __init__(self, message: str, *, label: str = "password") -> None:
        super().__init__(message)
        self.label = label


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
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


SECRET_LABELS = {
    "password": "password",
    "client_secret": "client secret",
    "client_certificate": "client certificate",
    "service_account_key": "service account key",
}


def decrypt(ciphertext: str, *, name: str = "password") -> str:
    try:
        return _fernet(tuple(settings.ENCRYPTION_KEYS)).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        label = SECRET_LABELS.get(name, name)
        raise UndecryptableSecret(
            f"The saved {label} cannot be decrypted with the configured encryption keys; "
            f"enter the {label} again.",
            label=label,
        ) from None
