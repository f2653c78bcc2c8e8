"""The test suite's OAuth 2.0 providers answer as Microsoft Entra, Google and their SMTP servers do.

Only standard library clients here (http.client, urllib, smtplib, ssl trusting the test CA), and
PyJWT to sign the assertions: no product code. These tests pin down the fakes of
tests/oauth_provider.py and the XOAUTH2 login of tests/smtp_server.py that the product's tests
rely on.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import json
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.oauth_provider import TokenEndpoint, make_certificate_credential
from tests.smtp_server import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    LocalCA,
    SMTPServerFactory,
    SMTPTestServer,
    XOAuth2Style,
)

# What make_certificate_credential returns: the PEM of the key and certificate, the certificate.
Credential = tuple[str, x509.Certificate]

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "Xv58Q~mS.secret-value"
MAILBOX = "noreply@contoso.com"
USER = "noreply@example.org"
SERVICE_ACCOUNT = "mailer@project.iam.gserviceaccount.com"
OUTLOOK = "https://outlook.office365.com/.default"
GMAIL = "https://mail.google.com/"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ENTRA_ERROR_FIELDS = {
    "error",
    "error_description",
    "error_codes",
    "timestamp",
    "trace_id",
    "correlation_id",
    "error_uri",
}
GOOGLE_UNAUTHORIZED = {
    "error": "unauthorized_client",
    "error_description": (
        "Client is unauthorized to retrieve access tokens using this method, or client not "
        "authorized for any of the scopes requested."
    ),
}
GOOGLE_BAD_TIMES = {
    "error": "invalid_grant",
    "error_description": (
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
        "timeframe. Check your iat and exp values in the JWT claim."
    ),
}
GOOGLE_BAD_SIGNATURE = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def tls(test_ca: LocalCA) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=test_ca.pem)


@pytest.fixture
def call(tls: ssl.SSLContext) -> Callable[..., Answer]:
    """POST a form (or send anything) with http.client, which follows no redirect."""

    def send(
        url: str,
        form: dict[str, str] | None = None,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 5.0,
    ) -> Answer:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPSConnection(
            str(parts.hostname), parts.port, context=tls, timeout=timeout
        )
        all_headers = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            connection.request(method, parts.path, body=body, headers=all_headers)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    return send


def thumbprint(certificate: x509.Certificate) -> str:
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def client_assertion(
    pem: str,
    certificate: x509.Certificate,
    audience: str,
    *,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """An RFC 7523 §2.2 client assertion as MSAL makes it; a claim given as None is left out."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    now = int(time.time())
    payload = {
        "aud": audience,
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    header = {"x5t#S256": thumbprint(certificate), **(headers or {})}
    header = {name: value for name, value in header.items() if value is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers=header)


def google_assertion(
    key_file: dict[str, str],
    audience: str,
    *,
    key: rsa.RSAPrivateKey | None = None,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A JWT bearer grant assertion as google-auth makes it; a claim given as None is left out."""
    if key is None:
        loaded = serialization.load_pem_private_key(key_file["private_key"].encode(), None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        key = loaded
    now = int(time.time())
    payload = {
        "iss": key_file["client_email"],
        "scope": GMAIL,
        "aud": audience,
        "sub": USER,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    header = {"kid": key_file["private_key_id"], **(headers or {})}
    header = {name: value for name, value in header.items() if value is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers=header)


def secret_form(**overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": OUTLOOK,
    }
    form.update(overrides)
    return {name: value for name, value in form.items() if value}


def assertion_form(assertion: str, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": OUTLOOK,
    }
    form.update(overrides)
    return form


def google_form(assertion: str) -> dict[str, str]:
    return {"grant_type": JWT_BEARER, "assertion": assertion}


def assert_entra_error(answer: Answer, status: int, error: str, code: int, text: str) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert set(body) == ENTRA_ERROR_FIELDS
    assert body["error"] == error
    assert body["error_codes"] == [code]
    description = body["error_description"]
    assert description.startswith(f"AADSTS{code}: {text}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])
    uuid.UUID(body["trace_id"])
    uuid.UUID(body["correlation_id"])
    assert description.endswith(
        f"\r\nTrace ID: {body['trace_id']}\r\nCorrelation ID: {body['correlation_id']}"
        f"\r\nTimestamp: {body['timestamp']}"
    )
    assert body["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"


def assert_google_error(answer: Answer, status: int, body: dict[str, str]) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.json() == body


@pytest.fixture
def secret_app(token_endpoint: TokenEndpoint) -> TokenEndpoint:
    token_endpoint.add_client(CLIENT_ID, secret=SECRET, mailboxes=[MAILBOX])
    return token_endpoint


@pytest.fixture
def certificate_app(token_endpoint: TokenEndpoint) -> Credential:
    pem, certificate = make_certificate_credential()
    token_endpoint.add_client(CLIENT_ID, certificate=certificate, mailboxes=[MAILBOX])
    return pem, certificate


@pytest.fixture
def key_file(token_endpoint: TokenEndpoint) -> dict[str, str]:
    text = token_endpoint.add_service_account(SERVICE_ACCOUNT, delegated_users=[USER])
    parsed: dict[str, str] = json.loads(text)
    return parsed


# Microsoft Entra: the client credentials grant with a client secret.


def test_a_client_secret_gets_a_token(secret_app: TokenEndpoint, call) -> None:
    answer = call(secret_app.microsoft_url(), secret_form())

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3599
    assert re.fullmatch(r"[A-Za-z0-9_\-]{40,}", body["access_token"])
    [issued] = secret_app.issued
    assert issued.access_token == body["access_token"]
    assert (issued.kind, issued.client, issued.tenant, issued.scope, issued.subject) == (
        "microsoft",
        CLIENT_ID,
        "contoso",
        OUTLOOK,
        None,
    )
    lifetime = issued.expires_at - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(seconds=3590) < lifetime <= datetime.timedelta(seconds=3599)
    assert secret_app.token_valid(body["access_token"], user=MAILBOX)


def test_a_client_secret_may_come_in_http_basic(secret_app: TokenEndpoint, call) -> None:
    credentials = base64.b64encode(f"{CLIENT_ID}:{urllib.parse.quote_plus(SECRET)}".encode())

    answer = call(
        secret_app.microsoft_url(),
        secret_form(client_id="", client_secret=""),
        headers={"Authorization": f"Basic {credentials.decode()}"},
    )

    assert answer.status == 200, answer.body
    assert secret_app.issued[0].client == CLIENT_ID


def test_urllib_gets_a_token_and_reads_a_refusal(secret_app: TokenEndpoint, tls) -> None:
    def post(form: dict[str, str]) -> Any:
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(secret_app.microsoft_url(), data, 5, context=tls) as response:
            return json.load(response)

    assert post(secret_form())["token_type"] == "Bearer"
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(secret_form(client_secret="wrong"))
    assert refused.value.code == 401
    assert json.load(refused.value)["error"] == "invalid_client"


def test_the_token_lifetime_follows_expires_in(secret_app: TokenEndpoint, call) -> None:
    secret_app.expires_in = 60

    body = call(secret_app.microsoft_url(), secret_form()).json()

    assert body["expires_in"] == body["ext_expires_in"] == 60
    lifetime = secret_app.issued[0].expires_at - datetime.datetime.now(datetime.UTC)
    assert lifetime <= datetime.timedelta(seconds=60)


def test_an_unknown_tenant_is_not_found(secret_app: TokenEndpoint, call) -> None:
    answer = call(secret_app.microsoft_url("fabrikam"), secret_form())

    assert_entra_error(answer, 400, "invalid_request", 90002, "Tenant 'fabrikam' not found. ")


def test_a_tenant_is_known_once_it_has_an_application(token_endpoint, call) -> None:
    token_endpoint.add_client("other-app", tenant="fabrikam.onmicrosoft.com", secret="s")

    answer = call(token_endpoint.microsoft_url("fabrikam.onmicrosoft.com"), secret_form())

    assert_entra_error(
        answer,
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{CLIENT_ID}' was not found in the directory "
        "'fabrikam.onmicrosoft.com'. ",
    )


def test_an_unknown_client_is_not_found(secret_app: TokenEndpoint, call) -> None:
    answer = call(secret_app.microsoft_url(), secret_form(client_id="no-such-app"))

    assert_entra_error(
        answer,
        400,
        "unauthorized_client",
        700016,
        "Application with identifier 'no-such-app' was not found in the directory 'contoso'. ",
    )


def test_a_wrong_secret_is_refused(secret_app: TokenEndpoint, call) -> None:
    answer = call(secret_app.microsoft_url(), secret_form(client_secret="the-secret-id"))

    assert_entra_error(
        answer,
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, ",
    )
    assert secret_app.issued == []


def test_an_expired_secret_is_refused(token_endpoint: TokenEndpoint, call) -> None:
    token_endpoint.add_client(CLIENT_ID, secret=SECRET, secret_expired=True)

    answer = call(token_endpoint.microsoft_url(), secret_form())

    assert_entra_error(
        answer,
        401,
        "invalid_client",
        7000222,
        f"The provided client secret keys for app '{CLIENT_ID}' are expired. ",
    )


def test_a_scope_the_client_does_not_have_is_invalid(secret_app: TokenEndpoint, call) -> None:
    answer = call(secret_app.microsoft_url(), secret_form(scope="SMTP.Send"))

    assert_entra_error(
        answer,
        400,
        "invalid_scope",
        1002012,
        "The provided value for scope SMTP.Send is not valid. Client credential flows must have "
        "a scope value with /.default suffixed to the resource identifier ",
    )


def test_missing_credentials_are_refused(secret_app: TokenEndpoint, call) -> None:
    answer = call(secret_app.microsoft_url(), secret_form(client_secret=""))

    assert_entra_error(
        answer, 401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request'"
    )


def test_only_form_posts_are_token_requests(secret_app: TokenEndpoint, call) -> None:
    as_json = call(
        secret_app.microsoft_url(),
        body=json.dumps(secret_form()).encode(),
        headers={"Content-Type": "application/json"},
    )
    as_get = call(secret_app.microsoft_url(), method="GET")
    other_grant = call(secret_app.microsoft_url(), secret_form(grant_type="password"))

    assert_entra_error(
        as_json,
        400,
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
    )
    assert_entra_error(
        as_get, 400, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests."
    )
    assert_entra_error(
        other_grant,
        400,
        "unsupported_grant_type",
        70003,
        "The app requested an unsupported grant type 'password'.",
    )


# Microsoft Entra: the client credentials grant with a certificate's client assertion.


def test_a_certificate_credential_is_a_key_then_its_certificate() -> None:
    pem, certificate = make_certificate_credential("autommate-test")

    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert pem.index("-----END PRIVATE KEY-----") < pem.index("-----BEGIN CERTIFICATE-----")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert x509.load_pem_x509_certificate(pem.encode()) == certificate
    assert key.public_key() == certificate.public_key()
    assert certificate.subject == certificate.issuer
    assert "CN=autommate-test" in certificate.subject.rfc4514_string()


def test_a_client_assertion_gets_a_token(token_endpoint, certificate_app: Credential, call) -> None:
    url = token_endpoint.microsoft_url()

    answer = call(url, assertion_form(client_assertion(*certificate_app, url)))

    assert answer.status == 200, answer.body
    assert answer.json()["token_type"] == "Bearer"
    assert token_endpoint.issued[0].client == CLIENT_ID


def test_the_assertion_may_be_for_the_address_as_requested(
    token_endpoint, certificate_app: Credential, call
) -> None:
    url = token_endpoint.microsoft_url().replace("localhost", "127.0.0.1")

    answer = call(url, assertion_form(client_assertion(*certificate_app, url)))

    assert answer.status == 200, answer.body


def test_an_assertion_signed_by_another_key_fails_signature_validation(
    token_endpoint, certificate_app: Credential, call
) -> None:
    _, certificate = certificate_app
    other_pem, _ = make_certificate_credential()
    url = token_endpoint.microsoft_url()

    # The right certificate's thumbprint, another key's signature.
    answer = call(url, assertion_form(client_assertion(other_pem, certificate, url)))

    assert_entra_error(
        answer, 401, "invalid_client", 700027, "Client assertion failed signature validation."
    )


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"x5t#S256": "dW5rbm93bi10aHVtYnByaW50"}, id="unknown thumbprint"),
        pytest.param({"x5t#S256": None}, id="no thumbprint"),
    ],
)
def test_an_assertion_with_an_unknown_thumbprint_fails_signature_validation(
    token_endpoint, certificate_app: Credential, call, header: dict[str, Any]
) -> None:
    url = token_endpoint.microsoft_url()

    answer = call(url, assertion_form(client_assertion(*certificate_app, url, headers=header)))

    assert_entra_error(
        answer, 401, "invalid_client", 700027, "Client assertion failed signature validation."
    )


def test_a_client_without_a_certificate_refuses_assertions(secret_app, call) -> None:
    pem, certificate = make_certificate_credential()
    url = secret_app.microsoft_url()

    answer = call(url, assertion_form(client_assertion(pem, certificate, url)))

    assert_entra_error(
        answer, 401, "invalid_client", 700027, "Client assertion failed signature validation."
    )


def from_now(offsets: dict[str, int | None]) -> dict[str, Any]:
    """Times as seconds from now; None leaves the claim out."""
    now = int(time.time())
    return {name: None if offset is None else now + offset for name, offset in offsets.items()}


@pytest.mark.parametrize(
    "offsets",
    [
        pytest.param({"exp": -10}, id="expired"),
        pytest.param({"exp": None}, id="no exp"),
        pytest.param({"nbf": 900}, id="nbf in the future"),
        pytest.param({"iat": 900}, id="iat in the future"),
    ],
)
def test_an_assertion_out_of_its_time_range_is_refused(
    token_endpoint, certificate_app: Credential, call, offsets: dict[str, int | None]
) -> None:
    url = token_endpoint.microsoft_url()
    claims = from_now({"exp": 1200, **offsets})

    answer = call(url, assertion_form(client_assertion(*certificate_app, url, **claims)))

    assert_entra_error(
        answer,
        401,
        "invalid_client",
        700024,
        "Client assertion is not within its valid time range. Current time: ",
    )


def test_an_assertion_from_a_clock_a_little_ahead_is_taken(
    token_endpoint, certificate_app: Credential, call
) -> None:
    url = token_endpoint.microsoft_url()
    ahead = int(time.time()) + 120
    assertion = client_assertion(*certificate_app, url, nbf=ahead, iat=ahead, exp=ahead + 600)

    assert call(url, assertion_form(assertion)).status == 200


def test_an_assertion_for_another_audience_is_refused(
    token_endpoint, certificate_app: Credential, call
) -> None:
    url = token_endpoint.microsoft_url()
    other = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"

    answer = call(url, assertion_form(client_assertion(*certificate_app, other)))

    assert_entra_error(
        answer,
        401,
        "invalid_client",
        700023,
        "Client assertion audience claim does not match Realm issuer.",
    )


@pytest.mark.parametrize("claim", ["iss", "sub"])
def test_an_assertion_of_another_client_is_refused(
    token_endpoint, certificate_app: Credential, call, claim: str
) -> None:
    url = token_endpoint.microsoft_url()
    other: dict[str, Any] = {claim: "another-client"}

    answer = call(url, assertion_form(client_assertion(*certificate_app, url, **other)))

    assert_entra_error(
        answer,
        401,
        "invalid_client",
        700021,
        "Client assertion application identifier doesn't match 'client_id' parameter.",
    )


def test_a_malformed_assertion_is_refused(
    token_endpoint, certificate_app: Credential, call
) -> None:
    answer = call(token_endpoint.microsoft_url(), assertion_form("not-a-jwt"))

    assert_entra_error(answer, 400, "invalid_request", 50027, "JWT token is invalid or malformed.")


# Google: the JWT bearer grant of a service account with domain-wide delegation.


def test_the_key_file_is_as_google_writes_it(token_endpoint: TokenEndpoint) -> None:
    text = token_endpoint.add_service_account(SERVICE_ACCOUNT, delegated_users=[USER])

    key_file = json.loads(text)
    assert list(key_file) == [
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
    ]
    assert key_file["type"] == "service_account"
    assert key_file["project_id"] == "project"
    assert re.fullmatch(r"[0-9a-f]{40}", key_file["private_key_id"])
    assert key_file["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert key_file["private_key"].endswith("-----END PRIVATE KEY-----\n")
    assert "\\n" in text  # the newlines of the key are escaped in the JSON text
    key = serialization.load_pem_private_key(key_file["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key_file["client_email"] == SERVICE_ACCOUNT
    assert re.fullmatch(r"\d{21}", key_file["client_id"])
    assert key_file["auth_uri"] == "https://accounts.google.com/o/oauth2/auth"
    assert key_file["token_uri"] == token_endpoint.google_url
    assert key_file["auth_provider_x509_cert_url"] == "https://www.googleapis.com/oauth2/v1/certs"
    assert key_file["client_x509_cert_url"] == (
        "https://www.googleapis.com/robot/v1/metadata/x509/mailer%40project.iam.gserviceaccount.com"
    )
    assert key_file["universe_domain"] == "googleapis.com"


def test_a_service_account_gets_a_token_for_a_delegated_user(
    token_endpoint: TokenEndpoint, key_file, call
) -> None:
    url = token_endpoint.google_url

    answer = call(url, google_form(google_assertion(key_file, url)))

    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    [issued] = token_endpoint.issued
    assert issued.access_token == body["access_token"]
    assert (issued.kind, issued.client, issued.subject, issued.scope, issued.tenant) == (
        "google",
        SERVICE_ACCOUNT,
        USER,
        GMAIL,
        None,
    )
    assert token_endpoint.token_valid(body["access_token"], user=USER)
    assert not token_endpoint.token_valid(body["access_token"], user="other@example.org")


def test_an_assertion_without_kid_is_tried_against_the_key(
    token_endpoint: TokenEndpoint, key_file, call
) -> None:
    url = token_endpoint.google_url

    answer = call(url, google_form(google_assertion(key_file, url, headers={"kid": None})))

    assert answer.status == 200, answer.body


def test_an_unknown_service_account_is_an_unknown_client(
    token_endpoint: TokenEndpoint, key_file, call
) -> None:
    url = token_endpoint.google_url
    assertion = google_assertion(key_file, url, iss="other@project.iam.gserviceaccount.com")

    answer = call(url, google_form(assertion))

    assert_google_error(
        answer,
        401,
        {"error": "invalid_client", "error_description": "The OAuth client was not found."},
    )


@pytest.mark.parametrize("wrong", ["key", "kid"])
def test_a_bad_signature_is_refused(
    token_endpoint: TokenEndpoint, key_file, call, wrong: str
) -> None:
    url = token_endpoint.google_url
    if wrong == "key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assertion = google_assertion(key_file, url, key=other)
    else:
        assertion = google_assertion(key_file, url, headers={"kid": "0" * 40})

    answer = call(url, google_form(assertion))

    assert_google_error(answer, 400, GOOGLE_BAD_SIGNATURE)


@pytest.mark.parametrize(
    "offsets",
    [
        pytest.param({"exp": -10, "iat": -600}, id="expired"),
        pytest.param({"exp": 7200}, id="longer than an hour"),
        pytest.param({"iat": 900}, id="issued in the future"),
        pytest.param({"iat": None}, id="no iat"),
    ],
)
def test_bad_times_are_refused(
    token_endpoint: TokenEndpoint, key_file, call, offsets: dict[str, int | None]
) -> None:
    url = token_endpoint.google_url
    claims = from_now(offsets)

    answer = call(url, google_form(google_assertion(key_file, url, **claims)))

    assert_google_error(answer, 400, GOOGLE_BAD_TIMES)


def test_an_unknown_user_is_refused(token_endpoint: TokenEndpoint, key_file, call) -> None:
    url = token_endpoint.google_url

    answer = call(url, google_form(google_assertion(key_file, url, sub="nobody@example.org")))

    assert_google_error(
        answer, 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
    )


def test_a_user_not_delegated_is_unauthorized(
    token_endpoint: TokenEndpoint, key_file, call
) -> None:
    token_endpoint.google_users.add("boss@example.org")
    url = token_endpoint.google_url

    answer = call(url, google_form(google_assertion(key_file, url, sub="boss@example.org")))

    assert_google_error(answer, 401, GOOGLE_UNAUTHORIZED)


def test_a_scope_not_delegated_is_unauthorized(
    token_endpoint: TokenEndpoint, key_file, call
) -> None:
    url = token_endpoint.google_url
    scope = f"{GMAIL} https://www.googleapis.com/auth/gmail.send"

    answer = call(url, google_form(google_assertion(key_file, url, scope=scope)))

    assert_google_error(answer, 401, GOOGLE_UNAUTHORIZED)


def test_an_assertion_for_another_audience_fails_the_audience_check(
    token_endpoint: TokenEndpoint, key_file, call
) -> None:
    url = token_endpoint.google_url
    assertion = google_assertion(key_file, "https://oauth2.googleapis.com/token")

    answer = call(url, google_form(assertion))

    assert_google_error(
        answer,
        400,
        {
            "error": "invalid_grant",
            "error_description": (
                f"Invalid JWT: Failed audience check. The right audience is {url}"
            ),
        },
    )


def test_google_takes_only_the_jwt_bearer_grant_in_a_form_post(
    token_endpoint: TokenEndpoint, key_file, call
) -> None:
    url = token_endpoint.google_url

    other_grant = call(url, {"grant_type": "client_credentials"})
    no_assertion = call(url, {"grant_type": JWT_BEARER})
    as_get = call(url, method="GET")

    assert_google_error(
        other_grant,
        400,
        {
            "error": "unsupported_grant_type",
            "error_description": "Invalid grant_type: client_credentials",
        },
    )
    assert_google_error(
        no_assertion,
        400,
        {"error": "invalid_request", "error_description": "Missing required parameter: assertion"},
    )
    assert as_get.status == 405
    assert as_get.headers["Content-Type"].startswith("text/html")
    assert b"Error 405 (Method Not Allowed)" in as_get.body


# Knobs and records.


def test_requests_are_recorded_and_token_requests_counted(secret_app: TokenEndpoint, call) -> None:
    call(secret_app.microsoft_url(), secret_form())
    call(secret_app.google_url, {"grant_type": JWT_BEARER})
    call(secret_app.google_url, method="GET")
    nowhere = call(secret_app.microsoft_url().replace("/token", "/authorize"), secret_form())

    assert nowhere.status == 404
    assert secret_app.token_requests == 2
    assert [(request.method, request.path) for request in secret_app.requests] == [
        ("POST", "/contoso/oauth2/v2.0/token"),
        ("POST", "/token"),
        ("GET", "/token"),
        ("POST", "/contoso/oauth2/v2.0/authorize"),
    ]
    first = secret_app.requests[0]
    assert first.form == secret_form()
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert first.headers["host"] == f"localhost:{secret_app.port}"


def test_respond_with_overrides_the_next_answers(secret_app: TokenEndpoint, call) -> None:
    page = "<html><body><h1>Service Unavailable</h1></body></html>"
    secret_app.respond_with(503, page, times=2)

    answers = [call(secret_app.microsoft_url(), secret_form()) for _ in range(3)]

    assert [answer.status for answer in answers] == [503, 503, 200]
    assert answers[0].headers["Content-Type"] == "text/html"
    assert answers[0].body == page.encode()
    assert secret_app.token_requests == 3
    assert len(secret_app.issued) == 1


def test_respond_with_for_good(secret_app: TokenEndpoint, call) -> None:
    secret_app.respond_with(200, b"not json at all", content_type="text/plain")

    answers = [call(secret_app.microsoft_url(), secret_form()) for _ in range(3)]

    assert {(answer.status, answer.body) for answer in answers} == {(200, b"not json at all")}
    assert secret_app.issued == []
    secret_app.respond_normally()
    assert call(secret_app.microsoft_url(), secret_form()).status == 200


def test_respond_with_a_huge_body(secret_app: TokenEndpoint, call) -> None:
    secret_app.respond_with(200, b"{" * 5_000_000, content_type="application/json")

    answer = call(secret_app.microsoft_url(), secret_form())

    assert answer.headers["Content-Length"] == "5000000"
    assert len(answer.body) == 5_000_000


def test_respond_with_a_redirect(secret_app: TokenEndpoint, call) -> None:
    secret_app.respond_with(
        302, "", headers={"Location": "https://login.example.org/elsewhere"}, times=1
    )

    answer = call(secret_app.microsoft_url(), secret_form())

    assert answer.status == 302
    assert answer.headers["Location"] == "https://login.example.org/elsewhere"
    assert answer.body == b""


def test_a_delay_makes_a_patient_client_wait_and_an_impatient_one_give_up(
    secret_app: TokenEndpoint, call
) -> None:
    secret_app.delay_seconds = 0.5

    with pytest.raises(TimeoutError):
        call(secret_app.microsoft_url(), secret_form(), timeout=0.1)
    started = time.monotonic()
    answer = call(secret_app.microsoft_url(), secret_form())

    assert answer.status == 200
    assert time.monotonic() - started >= 0.5


def test_revoked_and_expired_tokens_are_no_longer_valid(secret_app: TokenEndpoint, call) -> None:
    first = call(secret_app.microsoft_url(), secret_form()).json()["access_token"]
    secret_app.revoke_all()
    second = call(secret_app.microsoft_url(), secret_form()).json()["access_token"]

    assert not secret_app.token_valid(first, user=MAILBOX)
    assert secret_app.token_valid(second, user=MAILBOX)
    secret_app.expire_all()
    assert not secret_app.token_valid(second, user=MAILBOX)
    assert not secret_app.token_valid("never-issued", user=MAILBOX)


def test_a_microsoft_token_is_valid_for_the_applications_mailboxes(
    token_endpoint: TokenEndpoint, call
) -> None:
    token_endpoint.add_client("any-mailbox", secret="s1")
    token_endpoint.add_client(CLIENT_ID, secret=SECRET, mailboxes=[MAILBOX])
    token_endpoint.add_client(
        "graph-app", secret="s2", scopes=["https://graph.microsoft.com/.default"]
    )

    def token(client_id: str, secret: str, scope: str = OUTLOOK) -> str:
        form = secret_form(client_id=client_id, client_secret=secret, scope=scope)
        access_token: str = call(token_endpoint.microsoft_url(), form).json()["access_token"]
        return access_token

    restricted = token(CLIENT_ID, SECRET)
    assert token_endpoint.token_valid(restricted, user=MAILBOX.upper())
    assert not token_endpoint.token_valid(restricted, user="ceo@contoso.com")
    assert token_endpoint.token_valid(token("any-mailbox", "s1"), user="ceo@contoso.com")
    # A token for another resource than Exchange Online does not open the SMTP server.
    graph = token("graph-app", "s2", "https://graph.microsoft.com/.default")
    assert not token_endpoint.token_valid(graph, user=MAILBOX)


# XOAUTH2 on the SMTP test server.


def xoauth2(user: str, token: str, challenges: list[bytes]) -> Callable[..., str]:
    """smtplib's authobject: the XOAUTH2 response first, then empty answers to challenges."""
    sent: list[bool] = []

    def answer(challenge: bytes | None = None) -> str:
        if not sent:
            sent.append(True)
            return f"user={user}\x01auth=Bearer {token}\x01\x01"
        assert challenge is not None
        challenges.append(challenge)
        return ""

    return answer


def connect(server: SMTPTestServer, tls: ssl.SSLContext) -> smtplib.SMTP:
    client = smtplib.SMTP("localhost", server.port, timeout=5)
    client.starttls(context=tls)
    client.ehlo()
    return client


def microsoft_token(endpoint: TokenEndpoint, call) -> str:
    token: str = call(endpoint.microsoft_url(), secret_form()).json()["access_token"]
    return token


def google_token(endpoint: TokenEndpoint, key_file: dict[str, str], call) -> str:
    url = endpoint.google_url
    answer = call(url, google_form(google_assertion(key_file, url)))
    token: str = answer.json()["access_token"]
    return token


def send_test_message(client: smtplib.SMTP, sender: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "someone@example.org"
    message["Subject"] = "XOAUTH2"
    message.set_content("Sent after an OAuth 2.0 login.")
    client.send_message(message)


@pytest.mark.parametrize("initial_response_ok", [True, False])
def test_microsoft_style_xoauth2_takes_an_issued_token(
    smtp_server_factory: SMTPServerFactory, secret_app, call, tls, initial_response_ok: bool
) -> None:
    server = smtp_server_factory("starttls", oauth=secret_app)
    token = microsoft_token(secret_app, call)
    challenges: list[bytes] = []

    with connect(server, tls) as client:
        assert "XOAUTH2" in client.esmtp_features["auth"].split()
        code, _ = client.auth(
            "XOAUTH2",
            xoauth2(MAILBOX, token, challenges),
            initial_response_ok=initial_response_ok,
        )
        assert code == 235
        send_test_message(client, MAILBOX)

    [message] = server.wait_for(1)
    assert message.login == MAILBOX
    assert server.logins == [MAILBOX]
    assert challenges == []


def test_google_style_xoauth2_takes_an_issued_token(
    smtp_server_factory: SMTPServerFactory, token_endpoint, key_file, call, tls
) -> None:
    server = smtp_server_factory("starttls", oauth=token_endpoint, xoauth2_style="google")
    token = google_token(token_endpoint, key_file, call)

    with connect(server, tls) as client:
        code, _ = client.auth("XOAUTH2", xoauth2(USER, token, []), initial_response_ok=True)
        assert code == 235
        send_test_message(client, USER)

    assert server.wait_for(1)[0].login == USER


@pytest.mark.parametrize("problem", ["wrong token", "revoked", "expired", "other mailbox"])
def test_microsoft_style_xoauth2_refuses_a_bad_token(
    smtp_server_factory: SMTPServerFactory, secret_app, call, tls, problem: str
) -> None:
    server = smtp_server_factory("starttls", oauth=secret_app)
    token, user = microsoft_token(secret_app, call), MAILBOX
    if problem == "wrong token":
        token = token[::-1]
    elif problem == "revoked":
        secret_app.revoke_all()
    elif problem == "expired":
        secret_app.expire_all()
    else:
        user = "ceo@contoso.com"

    with connect(server, tls) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth("XOAUTH2", xoauth2(user, token, []), initial_response_ok=True)
        assert refused.value.smtp_code == 535
        assert refused.value.smtp_error == b"5.7.3 Authentication unsuccessful"
        with pytest.raises(smtplib.SMTPSenderRefused) as not_logged_in:
            send_test_message(client, user)
        assert not_logged_in.value.smtp_code == 530

    assert server.logins == [user]
    assert server.messages == []


@pytest.mark.parametrize("problem", ["wrong token", "revoked", "another user's token"])
def test_google_style_xoauth2_refuses_a_bad_token(
    smtp_server_factory: SMTPServerFactory, token_endpoint, key_file, call, tls, problem: str
) -> None:
    server = smtp_server_factory("starttls", oauth=token_endpoint, xoauth2_style="google")
    token, user = google_token(token_endpoint, key_file, call), USER
    if problem == "wrong token":
        token = "ya29.not-issued"
    elif problem == "revoked":
        token_endpoint.revoke_all()
    else:
        user = "boss@example.org"
    challenges: list[bytes] = []

    with (
        connect(server, tls) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        client.auth("XOAUTH2", xoauth2(user, token, challenges), initial_response_ok=True)

    assert [json.loads(challenge) for challenge in challenges] == [
        {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
    ]
    assert refused.value.smtp_code == 535
    assert isinstance(refused.value.smtp_error, bytes)
    lines = refused.value.smtp_error.split(b"\n")
    assert lines[0] == b"5.7.8 Username and Password not accepted. For more information, go to"
    assert lines[1].startswith(b"5.7.8  https://support.google.com/mail/?p=BadCredentials ")
    assert server.logins == [user]


def test_a_malformed_xoauth2_response_is_refused(
    smtp_server_factory: SMTPServerFactory, secret_app, tls
) -> None:
    server = smtp_server_factory("starttls", oauth=secret_app)

    with (
        connect(server, tls) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        client.auth("XOAUTH2", lambda challenge=None: f"user={MAILBOX}\x01\x01")

    assert refused.value.smtp_code == 535
    assert server.logins == []


@pytest.mark.parametrize(
    ("style", "reply"),
    [
        ("microsoft", b"5.7.139 Authentication unsuccessful, basic authentication is disabled."),
        ("google", b"5.7.8 Username and Password not accepted."),
    ],
)
def test_a_server_without_password_login_refuses_it(
    smtp_server_factory: SMTPServerFactory,
    token_endpoint,
    tls,
    style: XOAuth2Style,
    reply: bytes,
) -> None:
    server = smtp_server_factory(
        "starttls", oauth=token_endpoint, xoauth2_style=style, password_login=False
    )

    with (
        connect(server, tls) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        client.login(DEFAULT_USERNAME, DEFAULT_PASSWORD)

    assert refused.value.smtp_code == 535
    assert isinstance(refused.value.smtp_error, bytes)
    assert refused.value.smtp_error.startswith(reply)
    assert DEFAULT_USERNAME in server.logins


def test_an_oauth_server_takes_passwords_too_unless_told_otherwise(
    smtp_server_factory: SMTPServerFactory, token_endpoint, tls
) -> None:
    server = smtp_server_factory("starttls", oauth=token_endpoint)
    assert server.auth

    with connect(server, tls) as client:
        assert set(client.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN", "XOAUTH2"}
        client.login(DEFAULT_USERNAME, DEFAULT_PASSWORD)
        send_test_message(client, "noreply@example.org")

    assert server.wait_for(1)[0].login == DEFAULT_USERNAME


def test_a_server_without_oauth_does_not_offer_xoauth2(
    smtp_server_factory: SMTPServerFactory, tls
) -> None:
    server = smtp_server_factory("starttls", auth=True)

    with connect(server, tls) as client:
        assert set(client.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN"}
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth("XOAUTH2", lambda challenge=None: "user=x\x01auth=Bearer y\x01\x01")

    assert refused.value.smtp_code == 504
