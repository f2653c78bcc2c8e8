"""Real OAuth 2.0 token endpoints for the test suite: Microsoft Entra and Google, on 127.0.0.1.

Registered from tests/conftest.py, after tests/smtp_server.py whose ``test_ca`` it uses. Fixtures:

- ``token_endpoint``: a ``TokenEndpoint``, one ``http.server.ThreadingHTTPServer`` behind TLS
  (a certificate of the test CA for ``localhost`` and ``127.0.0.1``) that answers as both
  providers' token endpoints, stopped after the test:

  - Microsoft Entra at ``microsoft_url(tenant)`` = ``https://localhost:{port}/{tenant}/oauth2/v2.0/token``:
    the client credentials grant, with a client secret (form fields or HTTP Basic) or with a
    certificate's signed client assertion (RFC 7523 §2.2, RS256, header ``x5t#S256``).
    Applications (and so tenants) are registered with ``add_client(...)``.
  - Google at ``google_url`` = ``https://localhost:{port}/token``: the JWT bearer grant
    (RFC 7523 §2.1) signed with a service account's key, domain-wide delegation through ``sub``.
    ``add_service_account(...)`` registers one and returns its JSON key file.

  Refusals carry the providers' real statuses and JSON bodies. Every token issued is kept in
  ``issued``; ``token_valid(token, user=...)`` is what the XOAUTH2 login of the SMTP test server
  (``smtp_server_factory(oauth=token_endpoint)``) asks. Knobs: ``expires_in``, ``delay_seconds``,
  ``respond_with(...)``, ``revoke_all()``, ``expire_all()``, ``google_users``. Records:
  ``requests`` (every request), ``token_requests`` (how many POSTs reached a token path).

``make_certificate_credential()`` makes what an administrator uploads to Entra: a fresh RSA key
and self-signed certificate, as one PEM text (key first) and the certificate.
``certificate_thumbprint(certificate)`` is its ``x5t#S256``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote_plus

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.credentials import private_key_pem, self_signed_certificate
from tests.smtp_server import HOST, LocalCA

TokenKind = Literal["microsoft", "google"]

DEFAULT_TENANT = "contoso"
DEFAULT_SERVICE_ACCOUNT = "mailer@project.iam.gserviceaccount.com"
OUTLOOK_SCOPE = "https://outlook.office365.com/.default"
GMAIL_SCOPE = "https://mail.google.com/"
# The scopes whose tokens the SMTP servers take: Exchange Online's resource, and full Gmail.
SMTP_SCOPES: dict[TokenKind, frozenset[str]] = {
    "microsoft": frozenset({OUTLOOK_SCOPE, "https://outlook.office.com/.default"}),
    "google": frozenset({GMAIL_SCOPE}),
}
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_EXPIRES_IN = 3599
# Entra's tolerance for clocks that run ahead, on a client assertion's nbf and iat.
CLOCK_SKEW_SECONDS = 300
# Google's longest assertion (exp - iat).
GOOGLE_MAX_ASSERTION_SECONDS = 3600
MAX_BODY_BYTES = 1_000_000

_MICROSOFT_PATH = re.compile(r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")
_GOOGLE_PATH = "/token"
_CERTIFICATE_CREDENTIALS_DOC = (
    "Review the documentation at "
    "https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
)

_GOOGLE_INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "The OAuth client was not found.",
}
_GOOGLE_BAD_SIGNATURE = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
_GOOGLE_BAD_TIMES = {
    "error": "invalid_grant",
    "error_description": (
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
        "timeframe. Check your iat and exp values in the JWT claim."
    ),
}
_GOOGLE_UNKNOWN_USER = {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
_GOOGLE_UNAUTHORIZED = {
    "error": "unauthorized_client",
    "error_description": (
        "Client is unauthorized to retrieve access tokens using this method, or client not "
        "authorized for any of the scopes requested."
    ),
}
_GOOGLE_METHOD_NOT_ALLOWED = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error 405 (Method Not Allowed)!!1</title>
  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>
  <p><b>405.</b> <ins>That&#8217;s an error.</ins>
  <p>The request method <code>{method}</code> is inappropriate for the URL <code>{path}</code>.  <ins>That&#8217;s all we know.</ins>
"""  # noqa: E501
_NOT_FOUND = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


@dataclass
class TokenRequest:
    """One HTTP request the endpoint received. Header names are in lower case."""

    path: str
    form: dict[str, str]
    headers: dict[str, str]
    method: str = "POST"
    body: bytes = b""


@dataclass
class IssuedToken:
    """An access token the endpoint issued, and what it was issued for."""

    access_token: str
    kind: TokenKind
    # The Entra application's client_id, or the Google service account's client_email.
    client: str
    scope: str
    expires_at: datetime.datetime
    tenant: str | None = None
    # The Google Workspace user the service account acts for (the assertion's sub).
    subject: str | None = None
    revoked: bool = False


@dataclass
class EntraApp:
    tenant: str
    client_id: str
    secret: str | None
    certificate: x509.Certificate | None
    scopes: frozenset[str]
    # Lower case; empty means the service principal may send as any mailbox.
    mailboxes: frozenset[str]
    secret_expired: bool


@dataclass
class ServiceAccount:
    client_email: str
    client_id: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey
    scopes: frozenset[str]
    # Lower case.
    delegated_users: frozenset[str]
    key_file: str


@dataclass
class _Override:
    status: int
    body: bytes
    headers: dict[str, str]
    remaining: int | None


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def make_certificate_credential(common_name: str = "autommate") -> tuple[str, x509.Certificate]:
    """Return a fresh RSA 2048 key and self-signed certificate: PEM text (PKCS8 key, then
    certificate) and the certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = self_signed_certificate(key, common_name)
    pem = private_key_pem(key) + certificate.public_bytes(serialization.Encoding.PEM).decode()
    return pem, certificate


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """The ``x5t#S256`` of a certificate: base64url of the SHA-256 of its DER, no padding."""
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _json(status: int, body: dict[str, Any], **headers: str) -> _Response:
    return _Response(
        status,
        json.dumps(body).encode(),
        {
            "Content-Type": "application/json; charset=utf-8",
            "Cache-Control": "no-store, no-cache",
            "Pragma": "no-cache",
            **headers,
        },
    )


def _google_json(status: int, body: dict[str, Any]) -> _Response:
    return _json(
        status,
        body,
        **{
            "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
            "Expires": "Mon, 01 Jan 1990 00:00:00 GMT",
        },
    )


def _entra_time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _entra_error(status: int, error: str, code: int, description: str) -> _Response:
    """Entra's error body: the AADSTS code leads the description, which ends in the request's
    trace and correlation IDs and the time, each on its own line."""
    timestamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    return _json(
        status,
        {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        **{"x-ms-request-id": trace_id},
    )


def _missing_parameter(name: str) -> _Response:
    return _entra_error(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def _client_not_found(client_id: str, tenant: str) -> _Response:
    return _entra_error(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory "
        f"'{tenant}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You may have "
        "sent your authentication request to the wrong tenant.",
    )


def _bad_assertion_signature() -> _Response:
    return _entra_error(
        401,
        "invalid_client",
        700027,
        f"Client assertion failed signature validation. {_CERTIFICATE_CREDENTIALS_DOC}",
    )


def _assertion_out_of_time(claims: dict[str, Any]) -> _Response:
    def moment(name: str) -> str:
        value = claims.get(name)
        if not isinstance(value, int | float):
            return "(none)"
        return _entra_time(datetime.datetime.fromtimestamp(value, datetime.UTC))

    now = _entra_time(datetime.datetime.now(datetime.UTC))
    valid_from = moment("nbf") if "nbf" in claims else moment("iat")
    return _entra_error(
        401,
        "invalid_client",
        700024,
        f"Client assertion is not within its valid time range. Current time: {now}, assertion "
        f"valid from {valid_from}, expiry time of assertion {moment('exp')}. "
        f"{_CERTIFICATE_CREDENTIALS_DOC}",
    )


class TokenEndpoint:
    """The token endpoints of Microsoft Entra and Google, what they know and what they saw."""

    host = HOST

    def __init__(self, ca: LocalCA) -> None:
        self.ca = ca
        self.port = 0
        # The lifetime, in seconds, of the tokens issued from now on.
        self.expires_in = DEFAULT_EXPIRES_IN
        # How long to wait before answering each request.
        self.delay_seconds = 0.0
        # Every request received, in order, token path or not.
        self.requests: list[TokenRequest] = []
        # Every token issued, in order.
        self.issued: list[IssuedToken] = []
        # Every user of the Google Workspace domain (lower case). The delegated users of each
        # service account are added; add another for a user no service account may act for.
        self.google_users: set[str] = set()
        self._apps: dict[tuple[str, str], EntraApp] = {}
        self._accounts: dict[str, ServiceAccount] = {}
        self._override: _Override | None = None
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<TokenEndpoint https://localhost:{self.port}>"

    # Where the endpoints are.

    def microsoft_url(self, tenant: str = DEFAULT_TENANT) -> str:
        return f"https://localhost:{self.port}/{tenant}/oauth2/v2.0/token"

    @property
    def google_url(self) -> str:
        return f"https://localhost:{self.port}/token"

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts the endpoint's certificate (the test CA)."""
        return ssl.create_default_context(cadata=self.ca.pem)

    # What the providers know.

    def add_client(
        self,
        client_id: str,
        *,
        tenant: str = DEFAULT_TENANT,
        secret: str | None = None,
        certificate: x509.Certificate | None = None,
        scopes: Collection[str] = (OUTLOOK_SCOPE,),
        mailboxes: Collection[str] = (),
        secret_expired: bool = False,
    ) -> None:
        """Register an Entra application in a tenant (which the endpoint then knows).

        ``mailboxes`` are those its service principal may send as over SMTP (none: any).
        """
        app = EntraApp(
            tenant=tenant,
            client_id=client_id,
            secret=secret,
            certificate=certificate,
            scopes=frozenset(scopes),
            mailboxes=frozenset(mailbox.lower() for mailbox in mailboxes),
            secret_expired=secret_expired,
        )
        with self._lock:
            self._apps[tenant.lower(), client_id.lower()] = app

    make_certificate_credential = staticmethod(make_certificate_credential)

    def add_service_account(
        self,
        client_email: str = DEFAULT_SERVICE_ACCOUNT,
        *,
        delegated_users: Collection[str] = (),
        scopes: Collection[str] = (GMAIL_SCOPE,),
    ) -> str:
        """Register a Google service account with a new key; return the key's JSON file.

        ``delegated_users`` and ``scopes`` are its domain-wide delegation.
        """
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_key_id = secrets.token_hex(20)
        client_id = str(10**20 + secrets.randbelow(9 * 10**20))
        domain = client_email.partition("@")[2]
        project_id = domain.split(".", 1)[0] or "project"
        key_file = (
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": project_id,
                    "private_key_id": private_key_id,
                    "private_key": key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ).decode(),
                    "client_email": client_email,
                    "client_id": client_id,
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": self.google_url,
                    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                    "client_x509_cert_url": (
                        "https://www.googleapis.com/robot/v1/metadata/x509/" + quote(client_email)
                    ),
                    "universe_domain": "googleapis.com",
                },
                indent=2,
            )
            + "\n"
        )
        delegated = frozenset(user.lower() for user in delegated_users)
        account = ServiceAccount(
            client_email=client_email,
            client_id=client_id,
            private_key_id=private_key_id,
            private_key=key,
            scopes=frozenset(scopes),
            delegated_users=delegated,
            key_file=key_file,
        )
        with self._lock:
            self._accounts[client_email.lower()] = account
            self.google_users |= delegated
        return key_file

    # Knobs.

    def respond_with(
        self,
        status: int,
        body: bytes | str,
        content_type: str = "text/html",
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer the next ``times`` requests (None: all) with this instead of the real thing."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._override = _Override(
                status, data, {"Content-Type": content_type, **(headers or {})}, times
            )

    def respond_normally(self) -> None:
        with self._lock:
            self._override = None

    def revoke_all(self) -> None:
        """Invalidate every token issued so far."""
        with self._lock:
            for token in self.issued:
                token.revoked = True

    def expire_all(self) -> None:
        """Make every token issued so far expired."""
        expired = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        with self._lock:
            for token in self.issued:
                token.expires_at = expired

    # What the SMTP servers ask.

    def token_valid(self, token: str, *, user: str) -> bool:
        """Whether an access token lets ``user`` log in to the SMTP server.

        The token must have been issued here for the mail scope, and be neither revoked nor
        expired. Google: its ``sub`` is the user. Microsoft: the user is among the
        application's mailboxes (or it has none).
        """
        now = datetime.datetime.now(datetime.UTC)
        with self._lock:
            issued = next((item for item in self.issued if item.access_token == token), None)
            if issued is None or issued.revoked or issued.expires_at <= now:
                return False
            if not SMTP_SCOPES[issued.kind] & set(issued.scope.split()):
                return False
            if issued.kind == "google":
                return issued.subject is not None and issued.subject.lower() == user.lower()
            app = self._apps.get((str(issued.tenant).lower(), issued.client.lower()))
            return app is not None and (not app.mailboxes or user.lower() in app.mailboxes)

    @property
    def token_requests(self) -> int:
        """How many POSTs reached a token path (answered or not)."""
        with self._lock:
            return sum(
                1
                for request in self.requests
                if request.method == "POST" and _is_token_path(request.path)
            )

    # Running.

    def start(self) -> TokenEndpoint:
        if self._server is None:
            server = _HTTPServer(self)
            self.port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"token-endpoint-{self.port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if thread is not None:
            thread.join(5)

    # Called from the server's request threads.

    def _take_override(self) -> _Override | None:
        with self._lock:
            override = self._override
            if override is None:
                return None
            if override.remaining is not None:
                if override.remaining <= 0:
                    self._override = None
                    return None
                override.remaining -= 1
            return override

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _issue(
        self,
        kind: TokenKind,
        client: str,
        scope: str,
        *,
        tenant: str | None = None,
        subject: str | None = None,
    ) -> IssuedToken:
        expires_in = self.expires_in
        prefix = "ya29." if kind == "google" else ""
        issued = IssuedToken(
            access_token=prefix + secrets.token_urlsafe(48),
            kind=kind,
            client=client,
            scope=scope,
            expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expires_in),
            tenant=tenant,
            subject=subject,
        )
        with self._lock:
            self.issued.append(issued)
        return issued

    def _answer(self, request: TokenRequest) -> _Response:
        match = _MICROSOFT_PATH.fullmatch(request.path)
        if match is not None:
            return self._microsoft(request, match["tenant"])
        if request.path == _GOOGLE_PATH:
            return self._google(request)
        return _Response(404, _NOT_FOUND.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def _request_urls(self, request: TokenRequest) -> set[str]:
        """The URLs the request may have been sent to: as its Host header says, and ours."""
        host = request.headers.get("host", f"localhost:{self.port}")
        return {f"https://{host}{request.path}", f"https://localhost:{self.port}{request.path}"}

    # Microsoft Entra.

    def _microsoft(self, request: TokenRequest, tenant: str) -> _Response:
        if request.method != "POST":
            return _entra_error(
                400,
                "invalid_request",
                900561,
                "The endpoint only accepts POST, OPTIONS requests. "
                f"Received a {request.method} request.",
            )
        with self._lock:
            known_tenant = any(key[0] == tenant.lower() for key in self._apps)
        if not known_tenant:
            return _entra_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions for the "
                "tenant.",
            )
        form = request.form
        grant_type = form.get("grant_type", "")
        if not grant_type:
            return _missing_parameter("grant_type")
        if grant_type != "client_credentials":
            return _entra_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        basic_id, basic_secret = _basic_credentials(request.headers.get("authorization", ""))
        client_id = form.get("client_id") or basic_id
        if not client_id:
            return _missing_parameter("client_id")
        with self._lock:
            app = self._apps.get((tenant.lower(), client_id.lower()))
        if app is None:
            return _client_not_found(client_id, tenant)
        scope = form.get("scope", "").strip()
        if not scope:
            return _missing_parameter("scope")

        if "client_assertion" in form or "client_assertion_type" in form:
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                return _missing_parameter("client_assertion_type")
            refusal = self._check_client_assertion(
                app, client_id, form.get("client_assertion", ""), self._request_urls(request)
            )
            if refusal is not None:
                return refusal
        else:
            secret = form.get("client_secret") or basic_secret
            if not secret:
                return _entra_error(
                    401,
                    "invalid_client",
                    7000216,
                    "'client_assertion', 'client_secret' or 'request' is required for the "
                    "'client_credentials' grant type.",
                )
            if app.secret is None or not hmac.compare_digest(secret.encode(), app.secret.encode()):
                return _entra_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{app.client_id}'.",
                )
            if app.secret_expired:
                return _entra_error(
                    401,
                    "invalid_client",
                    7000222,
                    f"The provided client secret keys for app '{app.client_id}' are expired. "
                    "Visit the Azure portal to create new keys for your app: "
                    "https://aka.ms/NewClientSecret, or consider using certificate credentials "
                    "for added security: https://aka.ms/certCreds.",
                )

        if scope not in app.scopes:
            return _entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        issued = self._issue("microsoft", app.client_id, scope, tenant=app.tenant)
        return _json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "ext_expires_in": self.expires_in,
                "access_token": issued.access_token,
            },
        )

    def _check_client_assertion(
        self, app: EntraApp, client_id: str, assertion: str, audiences: set[str]
    ) -> _Response | None:
        """Verify an RFC 7523 §2.2 client assertion; return Entra's refusal, None if valid."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return _entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        certificate = app.certificate
        if certificate is None or header.get("x5t#S256") != certificate_thumbprint(certificate):
            return _bad_assertion_signature()
        try:
            jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=list(audiences),
                leeway=CLOCK_SKEW_SECONDS,
                options={"verify_exp": False, "require": ["exp", "aud", "iss", "sub"]},
            )
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            return _bad_assertion_signature()
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            return _assertion_out_of_time(claims)
        except jwt.MissingRequiredClaimError as error:
            if error.claim == "exp":
                return _assertion_out_of_time(claims)
            if error.claim == "aud":
                return _wrong_assertion_audience()
            return _assertion_not_for_client()
        except jwt.InvalidAudienceError:
            return _wrong_assertion_audience()
        except jwt.InvalidTokenError:
            return _entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires <= time.time():
            return _assertion_out_of_time(claims)
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return _assertion_not_for_client()
        return None

    # Google.

    def _google(self, request: TokenRequest) -> _Response:
        if request.method != "POST":
            page = _GOOGLE_METHOD_NOT_ALLOWED.format(method=request.method, path=request.path)
            return _Response(
                405, page.encode(), {"Content-Type": "text/html; charset=UTF-8", "Allow": "POST"}
            )
        form = request.form
        grant_type = form.get("grant_type", "")
        if grant_type != JWT_BEARER_GRANT:
            return _google_json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Invalid grant_type: {grant_type}",
                },
            )
        assertion = form.get("assertion", "")
        if not assertion:
            return _google_json(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Missing required parameter: assertion",
                },
            )
        try:
            header = jwt.get_unverified_header(assertion)
            claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return _google_json(400, _GOOGLE_BAD_SIGNATURE)
        with self._lock:
            account = self._accounts.get(str(claims.get("iss", "")).lower())
        if account is None:
            return _google_json(401, _GOOGLE_INVALID_CLIENT)
        # Google's own libraries name the key; an assertion that names none is tried against all.
        kid = header.get("kid")
        if kid is not None and kid != account.private_key_id:
            return _google_json(400, _GOOGLE_BAD_SIGNATURE)
        try:
            jwt.decode(
                assertion,
                account.private_key.public_key(),
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                },
            )
        except jwt.InvalidTokenError:
            return _google_json(400, _GOOGLE_BAD_SIGNATURE)
        if claims.get("aud") not in self._request_urls(request) | {self.google_url}:
            return _google_json(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": (
                        "Invalid JWT: Failed audience check. The right audience is "
                        f"{self.google_url}"
                    ),
                },
            )
        issued_at, expires = claims.get("iat"), claims.get("exp")
        now = time.time()
        if (
            not isinstance(issued_at, int | float)
            or not isinstance(expires, int | float)
            or issued_at > now + CLOCK_SKEW_SECONDS
            or expires <= now
            or expires - issued_at > GOOGLE_MAX_ASSERTION_SECONDS
        ):
            return _google_json(400, _GOOGLE_BAD_TIMES)
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            return _google_json(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": "Empty or missing scope not allowed.",
                },
            )
        subject = claims.get("sub")
        if subject is not None:
            subject = str(subject)
            with self._lock:
                known_user = subject.lower() in self.google_users
            if not known_user:
                return _google_json(400, _GOOGLE_UNKNOWN_USER)
            if subject.lower() not in account.delegated_users:
                return _google_json(401, _GOOGLE_UNAUTHORIZED)
        if not set(scope.split()) <= account.scopes:
            return _google_json(401, _GOOGLE_UNAUTHORIZED)
        issued = self._issue("google", account.client_email, scope, subject=subject)
        return _google_json(
            200,
            {
                "access_token": issued.access_token,
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            },
        )


def _wrong_assertion_audience() -> _Response:
    return _entra_error(
        401,
        "invalid_client",
        700023,
        "Client assertion audience claim does not match Realm issuer. "
        f"{_CERTIFICATE_CREDENTIALS_DOC}",
    )


def _assertion_not_for_client() -> _Response:
    return _entra_error(
        401,
        "invalid_client",
        700021,
        "Client assertion application identifier doesn't match 'client_id' parameter. "
        f"{_CERTIFICATE_CREDENTIALS_DOC}",
    )


def _basic_credentials(authorization: str) -> tuple[str, str]:
    """The client ID and secret of an HTTP Basic header (RFC 6749 §2.3.1), empty when absent."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


def _is_token_path(path: str) -> bool:
    return path == _GOOGLE_PATH or _MICROSOFT_PATH.fullmatch(path) is not None


class _HTTPServer(ThreadingHTTPServer):
    """Accepts plain TCP and does the TLS handshake in each connection's own thread, so that a
    client that never finishes it holds up no one else."""

    daemon_threads = True

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self.endpoint = endpoint
        self.context = endpoint.ca.server_context("ca")
        self._connections: set[ssl.SSLSocket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((HOST, 0), _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_RequestHandler.timeout)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except OSError:  # the handshake failed, or the client went away
            return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            super().finish_request(connection, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            connection.close()

    def close_connections(self) -> None:
        """Hang up on the clients still connected (kept-alive connections)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts in tests, for one) are no error of the endpoint's.
        if not isinstance(sys.exception(), OSError):
            super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "TokenEndpoint/1.0"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        endpoint = self.server.endpoint
        path = self.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            self.close_connection = True
        body = self.rfile.read(min(max(length, 0), MAX_BODY_BYTES)) if length > 0 else b""
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        form: dict[str, str] = {}
        if content_type == "application/x-www-form-urlencoded":
            for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                form.setdefault(name, value)
        request = TokenRequest(
            path=path, form=form, headers=headers, method=self.command, body=body
        )
        endpoint._record(request)
        if endpoint.delay_seconds:
            time.sleep(endpoint.delay_seconds)
        override = endpoint._take_override()
        if override is not None:
            response = _Response(override.status, override.body, override.headers)
        else:
            response = endpoint._answer(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


@pytest.fixture
def token_endpoint(test_ca: LocalCA) -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(test_ca).start()
    yield endpoint
    endpoint.stop()
