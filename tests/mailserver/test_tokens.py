"""The credentials, assertions and answers of the token step, without a network."""

from __future__ import annotations

import base64
import http.client
import json
import time

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from autommate.mailserver.tokens import (
    GOOGLE_SCOPE,
    AccessToken,
    ClientCertificate,
    InvalidCredential,
    InvalidTokenURL,
    NotAToken,
    ServiceAccountKey,
    TokenRedirected,
    TokenRefused,
    _read_answer,
    check_token_url,
)
from tests.credentials import private_key_pem, self_signed_certificate

TOKEN_URL = "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return private_key_pem(key)


def _certificate(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return self_signed_certificate(key, "Autom Mate")


def _cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _service_account_json(key: rsa.RSAPrivateKey, **changes: object) -> str:
    data: dict[str, object] = {
        "type": "service_account",
        "project_id": "autommate-mail",
        "private_key_id": "0123456789abcdef",
        "private_key": _key_pem(key),
        "client_email": "mailer@autommate-mail.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_a_client_certificate_signs_an_assertion_entra_accepts(rsa_key: rsa.RSAPrivateKey) -> None:
    certificate = _certificate(rsa_key)
    credential = ClientCertificate.parse(_key_pem(rsa_key) + _cert_pem(certificate))

    assertion = credential.assertion(client_id="app-id", audience=TOKEN_URL)

    header = jwt.get_unverified_header(assertion)
    thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256()))
    assert header["alg"] == "RS256"
    assert header["x5t#S256"] == thumbprint.rstrip(b"=").decode()
    claims = jwt.decode(assertion, rsa_key.public_key(), algorithms=["RS256"], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == "app-id"
    assert claims["iat"] <= time.time() < claims["exp"] <= time.time() + 900
    assert claims["jti"]


def test_the_certificate_may_come_first_and_others_may_follow(rsa_key: rsa.RSAPrivateKey) -> None:
    other = _certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    mine = _certificate(rsa_key)
    pem = _cert_pem(other) + _cert_pem(mine) + _key_pem(rsa_key)

    assert ClientCertificate.parse(pem).certificate == mine


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda key: _cert_pem(_certificate(key)), "holds no private key"),
        (lambda key: _key_pem(key), "holds no certificate"),
        (
            lambda key: (
                _key_pem(key)
                + _cert_pem(
                    _certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048))
                )
            ),
            "does not belong to the private key",
        ),
        (
            lambda key: (
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"passphrase"),
                ).decode()
                + _cert_pem(_certificate(key))
            ),
            "protected by a passphrase",
        ),
        (
            lambda key: "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n",
            "could not be read",
        ),
    ],
)
def test_an_unusable_client_certificate_is_refused_with_the_reason(
    rsa_key: rsa.RSAPrivateKey, build, message: str
) -> None:
    with pytest.raises(InvalidCredential, match=message):
        ClientCertificate.parse(build(rsa_key))


def test_a_client_certificate_needs_an_rsa_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    with pytest.raises(InvalidCredential, match="must be an RSA key"):
        ClientCertificate.parse(_key_pem(key) + _cert_pem(_certificate(key)))


def test_a_service_account_key_signs_the_jwt_bearer_assertion(rsa_key: rsa.RSAPrivateKey) -> None:
    key = ServiceAccountKey.parse(_service_account_json(rsa_key))

    assertion = key.assertion(subject="ayse@example.org", audience=key.token_uri)

    assert jwt.get_unverified_header(assertion)["kid"] == "0123456789abcdef"
    claims = jwt.decode(
        assertion, rsa_key.public_key(), algorithms=["RS256"], audience=key.token_uri
    )
    assert claims["iss"] == "mailer@autommate-mail.iam.gserviceaccount.com"
    assert claims["sub"] == "ayse@example.org"
    assert claims["scope"] == GOOGLE_SCOPE
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ('{"type": "authorized_user"}', "not a service account key"),
        (None, "lacks private_key"),
    ],
)
def test_an_unusable_service_account_key_is_refused_with_the_reason(
    rsa_key: rsa.RSAPrivateKey, text: str | None, message: str
) -> None:
    with pytest.raises(InvalidCredential, match=message):
        ServiceAccountKey.parse(text or _service_account_json(rsa_key, private_key=None))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://login.example.org/token", "only over https"),
        ("login.example.org/token", "only over https"),
        ("https:///token", "names no server"),
        ("https://user:secret@login.example.org/token", "username or password"),
        (
            "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token",
            "placeholder such as <tenant>",
        ),
    ],
)
def test_only_plain_https_token_urls_are_fetched(url: str, message: str) -> None:
    with pytest.raises(InvalidTokenURL, match=message):
        check_token_url(url)


def _headers(**values: str) -> http.client.HTTPMessage:
    message = http.client.HTTPMessage()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def test_a_token_answer_gives_the_token_and_its_lifetime() -> None:
    body = json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": "abc"})

    token = _read_answer(
        200, _headers(Content_Type="application/json"), body.encode(), issuer_host="idp"
    )

    assert token.value == "abc"
    assert token.lifetime_seconds == 3599
    assert "abc" not in repr(token)
    assert token.detail == "Got an access token from idp, valid for 60 minutes."


def test_an_oauth_error_keeps_the_providers_words_and_codes() -> None:
    body = json.dumps(
        {
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1",
            "error_codes": [7000215],
        }
    )

    with pytest.raises(TokenRefused) as refused:
        _read_answer(401, _headers(Content_Type="application/json"), body.encode(), issuer_host="")

    assert refused.value.error == "invalid_client"
    assert refused.value.codes == ["AADSTS7000215"]
    assert refused.value.description == "AADSTS7000215: Invalid client secret provided. Trace ID: 1"


def test_redirects_pages_and_oversized_answers_are_not_tokens() -> None:
    with pytest.raises(TokenRedirected) as redirected:
        _read_answer(302, _headers(Location="https://evil.example/"), b"", issuer_host="")
    assert redirected.value.location == "https://evil.example/"

    with pytest.raises(NotAToken) as page:
        _read_answer(200, _headers(Content_Type="text/html"), b"<h1>Sign in</h1>", issuer_host="")
    assert page.value.content_type == "text/html"
    assert "Sign in" in page.value.excerpt

    with pytest.raises(NotAToken) as huge:
        _read_answer(200, _headers(), b"{" + b" " * 70_000, issuer_host="")
    assert huge.value.too_large

    with pytest.raises(NotAToken, match="type mac"):
        _read_answer(
            200,
            _headers(),
            json.dumps({"access_token": "x", "token_type": "mac"}).encode(),
            issuer_host="",
        )


def test_a_token_is_fetched_anew_before_it_expires() -> None:
    now = time.monotonic()
    hour = AccessToken("t", lifetime_seconds=3600, expires_at=now + 3600, issuer_host="idp")
    short = AccessToken("t", lifetime_seconds=10, expires_at=now + 10, issuer_host="idp")

    assert hour.fresh_enough(now + 3000)
    assert not hour.fresh_enough(now + 3301)
    assert short.fresh_enough(now + 4)
    assert not short.fresh_enough(now + 6)
