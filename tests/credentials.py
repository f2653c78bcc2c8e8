"""The OAuth 2.0 credentials an administrator pastes or uploads, made fresh for tests.

`client_certificate_pem()` is what Microsoft Entra takes as a certificate credential: an RSA 2048
private key and its self-signed certificate, as one PEM text (key first). `service_account_key()`
is a Google service account's JSON key file, as Google writes it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from functools import cache
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
SERVICE_ACCOUNT_EMAIL = "mailer@autommate-tests.iam.gserviceaccount.com"


@cache
def rsa_key(name: str = "default") -> rsa.RSAPrivateKey:
    """Return an RSA 2048 key, the same one for the same name (making one takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def self_signed_certificate(
    key: PrivateKey,
    common_name: str = "autommate",
    *,
    names: Sequence[x509.GeneralName] = (),
    days: int = 365,
) -> x509.Certificate:
    """Return a certificate for `key`, signed by itself, valid from an hour ago for `days`."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256())


def certificate_pem(key: PrivateKey, common_name: str = "autommate") -> str:
    certificate = self_signed_certificate(key, common_name)
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def client_certificate_pem(name: str = "client-certificate") -> str:
    """Return a client certificate credential: the PEM private key followed by its certificate."""
    key = rsa_key(name)
    return private_key_pem(key) + certificate_pem(key)


def service_account_key(
    *,
    client_email: str = SERVICE_ACCOUNT_EMAIL,
    token_uri: str = GOOGLE_TOKEN_URI,
    name: str = "service-account",
    **changes: object,
) -> str:
    """Return a service account's JSON key file as Google creates it, with `changes` applied."""
    project_id = client_email.partition("@")[2].split(".", 1)[0] or "project"
    data: dict[str, object] = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "4f2a9c0e1b7d3a5c8e6f0a2b4c6d8e0f1a3b5c7d",
        "private_key": private_key_pem(rsa_key(name)),
        "client_email": client_email,
        "client_id": "104857600000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + quote(client_email),
        "universe_domain": "googleapis.com",
    }
    data.update(changes)
    return json.dumps(data, indent=2) + "\n"


def private_key_body(pem: str) -> str:
    """Return a line from the middle of a PEM private key: what must show up nowhere."""
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return lines[len(lines) // 2]
