"""The fingerprint of mail server settings: a keyed digest of what decides whether mail goes out.

Confirming a test mail stores the fingerprint of the settings it was sent with, and the settings
count as verified while their fingerprint is still that one. The digest is a plain function of a
dict of values, so that migrations can compute the fingerprints of earlier releases and carry a
verification forward when what goes into the fingerprint grows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from .secrets import decrypt

# The secrets each authentication method logged in with when OAuth 2.0 logins were released, as
# released_values() covers them; frozen with it, whatever models.METHOD_SECRETS becomes.
_RELEASED_METHOD_SECRETS: dict[str, tuple[str, ...]] = {
    "password": ("password",),
    "oauth2": ("client_secret", "client_certificate"),
    "google-service-account": ("service_account_key",),
}


def settings_fingerprint(values: Mapping[str, object]) -> str:
    """Return the keyed digest (HMAC-SHA256 with the secret key) of `values`, a JSON-able dict."""
    payload = json.dumps(dict(values), sort_keys=True).encode()
    key = hashlib.sha256(b"mail-server-fingerprint:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def released_values(row: Any, secrets: Mapping[str, str]) -> dict[str, object]:
    """Return the values the fingerprint covered up to the release with OAuth 2.0 logins.

    `row` is the settings (a model instance, also a historical one in a migration), `secrets`
    the secrets of its method in clear. Never change this function: migrations use it to
    recognise a verification made then. The fingerprint of password settings is the one they had
    before other methods existed, so that settings verified then stayed verified.
    """
    use_auth = bool(row.use_auth)
    values: dict[str, object] = {
        "host": row.host.strip().lower(),
        "port": row.port,
        "protocol": row.protocol,
        "use_tls": row.use_tls,
        "sender_email": row.sender_email.strip().lower(),
        "use_auth": row.use_auth,
        "username": row.username if use_auth else "",
        "password": secrets.get("password", "") if use_auth else "",
        "ca_certificate": row.ca_certificate.strip(),
    }
    if use_auth and row.auth_method != "password":
        values |= {
            "auth_method": row.auth_method,
            "token_url": row.token_url.strip(),
            "client_id": row.client_id.strip(),
            "scope": row.scope.strip(),
        }
        names = _RELEASED_METHOD_SECRETS[row.auth_method]
        values |= {name: secrets.get(name, "") for name in names}
    return values


def released_secrets(row: Any) -> dict[str, str]:
    """Return the saved secrets of `row`'s method in clear, as released_values() takes them.

    Raises UndecryptableSecret when a secret cannot be read with the configured keys.
    """
    if not row.use_auth:
        return {}
    names = _RELEASED_METHOD_SECRETS.get(row.auth_method, ())
    return {
        name: decrypt(ciphertext, name=name)
        if (ciphertext := getattr(row, f"{name}_encrypted"))
        else ""
        for name in names
    }
