"""Access tokens for logging in to the mail server with SASL XOAUTH2.

Two grants get a token: OAuth 2.0's client credentials grant (RFC 6749 §4.4), with a client
secret or with a client assertion signed by the client certificate's key (RFC 7523 §2.2, with the
`x5t#S256` header Microsoft Entra expects), and Google's JWT bearer grant for a service account
with domain-wide delegation (RFC 7523 §2.1). PyJWT signs the assertions.

The token request is the application reaching out to a URL an administrator typed, so it follows
the rules of the SMTP connection: the name is resolved once and the address checked against the
allowed destinations is the one connected to, TLS is verified (with the CA certificate of the mail
settings trusted too), only https is spoken, redirects are not followed, the answer is read up to a
size limit, and the whole request ends within a deadline. That is why the request is made here
over http.client on that socket rather than by an HTTP client library that resolves names itself.

A token is reused until shortly before it expires, by every mail the process sends: N mails cost
one token request per token lifetime, not N. A token the server refuses is dropped with drop().
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import smtplib
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from autommate import metrics
from autommate.sentences import sentence as _

from .connection import Deadline, ServerConfig, open_socket, resolve_within, ssl_context
from .destinations import TOKEN_URL, check_destination

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

GOOGLE_SCOPE = "https://mail.google.com/"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# A token endpoint answers with a few hundred bytes; anything much larger is not one.
MAX_ANSWER_BYTES = 64 * 1024
# However slow the endpoint, a token request ends within this, as the test mail does.
MAX_REQUEST_SECONDS = 15.0
# A token is fetched anew this long before it expires (at most half its lifetime before).
REFRESH_MARGIN_SECONDS = 300.0
ASSERTION_LIFETIME_SECONDS = 600
GOOGLE_ASSERTION_LIFETIME_SECONDS = 3600
USER_AGENT = "Autom Mate"
_PRIVATE_KEY_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.DOTALL
)


class TokenError(Exception):
    """The token step failed for a reason of its own (not a network error)."""


class InvalidTokenURL(TokenError):
    """The token URL is not an https URL this application will fetch."""


class InvalidCredential(TokenError):
    """The client certificate or the service account key cannot be used to sign an assertion."""


class TokenRedirected(TokenError):
    """The token URL answered with a redirect, which is never followed."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"HTTP {status} redirect to {location or 'nowhere'}")
        self.status = status
        self.location = location


class NotAToken(TokenError):
    """The token URL answered with something that is neither a token nor an OAuth error."""

    def __init__(self, status: int, content_type: str, excerpt: str, *, too_large: bool = False):
        what = "an answer larger than 64 KB" if too_large else f"{content_type or 'no type'}"
        super().__init__(f"HTTP {status}, {what}: {excerpt}".strip().rstrip(":"))
        self.status = status
        self.content_type = content_type
        self.excerpt = excerpt
        self.too_large = too_large


class TokenRefused(TokenError):
    """The token endpoint answered with an OAuth error (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, description: str, codes: list[str]) -> None:
        super().__init__(f"HTTP {status} {error}: {description}".strip().rstrip(":"))
        self.status = status
        self.error = error
        self.description = description
        # Microsoft Entra's AADSTS numbers, from error_codes or the description.
        self.codes = codes


class XOAuth2NotOffered(smtplib.SMTPNotSupportedError):
    """The mail server does not offer the XOAUTH2 login mechanism."""

    def __init__(self, offered: str) -> None:
        super().__init__(f"the server offers AUTH {offered or '(nothing)'}, not XOAUTH2")
        self.offered = offered


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    lifetime_seconds: float
    expires_at: float  # time.monotonic()
    issuer_host: str
    reused: bool = False

    def fresh_enough(self, now: float) -> bool:
        margin = min(REFRESH_MARGIN_SECONDS, self.lifetime_seconds / 2)
        return now < self.expires_at - margin

    @property
    def detail(self) -> str:
        minutes = round(self.lifetime_seconds / 60)
        host = self.issuer_host
        if minutes >= 2:
            if self.reused:
                return _(
                    "Reused the access token from %(host)s (valid for %(minutes)s minutes)."
                ) % {"host": host, "minutes": minutes}
            return _("Got an access token from %(host)s, valid for %(minutes)s minutes.") % {
                "host": host,
                "minutes": minutes,
            }
        seconds = round(self.lifetime_seconds)
        if self.reused:
            return _("Reused the access token from %(host)s (valid for %(seconds)s seconds).") % {
                "host": host,
                "seconds": seconds,
            }
        return _("Got an access token from %(host)s, valid for %(seconds)s seconds.") % {
            "host": host,
            "seconds": seconds,
        }


class _Cache:
    """The tokens of this process, keyed by a digest of everything that obtained them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessToken] = {}
        self._fetching: dict[str, threading.Lock] = {}
        # How many tokens were requested, for the operator's and the tests' curiosity.
        self.requests = 0

    def get(self, key: str) -> AccessToken | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and not token.fresh_enough(time.monotonic()):
                del self._tokens[key]
                return None
            return token

    def fetching(self, key: str) -> threading.Lock:
        """Return the lock held while a token for `key` is requested.

        A worker's connections open at once; the first asks the endpoint and the others reuse
        its token rather than asking too.
        """
        with self._lock:
            return self._fetching.setdefault(key, threading.Lock())

    def put(self, key: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def drop(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


CACHE = _Cache()


def _cache_key(config: ServerConfig) -> str:
    material = json.dumps(
        [
            config.auth_method,
            config.token_url,
            config.client_id,
            config.client_secret,
            config.client_certificate,
            config.scope,
            config.service_account_key,
            config.username,
            config.ca_certificate,
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def access_token(
    config: ServerConfig, *, deadline: Deadline | None = None, fresh: bool = False
) -> AccessToken:
    """Return a token to log in with: a reused one that is still fresh, or a new one.

    `fresh` always asks the endpoint (the test mail does, to prove the credentials).
    """
    key = _cache_key(config)
    if fresh:
        token = request_token(config, deadline=deadline)
        CACHE.put(key, token)
        return token
    with CACHE.fetching(key):
        cached = CACHE.get(key)
        if cached is not None:
            return AccessToken(
                value=cached.value,
                lifetime_seconds=cached.lifetime_seconds,
                expires_at=cached.expires_at,
                issuer_host=cached.issuer_host,
                reused=True,
            )
        token = request_token(config, deadline=deadline)
        CACHE.put(key, token)
        return token


def drop(config: ServerConfig) -> None:
    """Forget the token of these settings, after the mail server refused it."""
    CACHE.drop(_cache_key(config))


def xoauth2_response(user: str, token: AccessToken) -> str:
    """Return the SASL XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token.value}\x01\x01"


def token_url_of(config: ServerConfig) -> str:
    """Return where the token comes from: the Token URL, or the service account key's token_uri."""
    if config.auth_method == "google-service-account":
        return ServiceAccountKey.parse(config.service_account_key).token_uri
    return config.token_url


def request_token(config: ServerConfig, *, deadline: Deadline | None = None) -> AccessToken:
    """Ask the token endpoint for a new token with the grant of the settings' method."""
    if config.auth_method == "google-service-account":
        key = ServiceAccountKey.parse(config.service_account_key)
        url = key.token_uri
        form = {
            "grant_type": JWT_BEARER_GRANT,
            "assertion": key.assertion(subject=config.username, audience=url),
        }
    else:
        url = config.token_url
        form = {"grant_type": "client_credentials", "client_id": config.client_id}
        if config.scope:
            form["scope"] = config.scope
        if config.client_certificate:
            credential = ClientCertificate.parse(config.client_certificate)
            form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            form["client_assertion"] = credential.assertion(
                client_id=config.client_id, audience=url
            )
        else:
            form["client_secret"] = config.client_secret
    own_deadline = deadline is None
    bound = deadline or Deadline(MAX_REQUEST_SECONDS)
    try:
        status, headers, body = _post_form(url, form, config=config, deadline=bound)
        CACHE.requests += 1
        token = _read_answer(status, headers, body, issuer_host=urlsplit(url).hostname or url)
    except BaseException:
        metrics.OAUTH_TOKEN_REQUESTS.labels(outcome="failed").inc()
        raise
    finally:
        if own_deadline:
            bound.stop()
    metrics.OAUTH_TOKEN_REQUESTS.labels(outcome="issued").inc()
    return token


def check_token_url(url: str) -> None:
    """Raise InvalidTokenURL unless the URL is one the token may be fetched from."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - read for its check: a port that is not a number raises.
    except ValueError:
        raise InvalidTokenURL(
            _("The token URL %(url)s is not a valid URL.") % {"url": url}
        ) from None
    if parts.scheme.lower() != "https":
        if not url:
            raise InvalidTokenURL(
                _(
                    "The token URL is empty; tokens are fetched only over https, from an "
                    "https:// URL."
                )
            )
        raise InvalidTokenURL(
            _(
                "The token URL %(url)s does not start with https://; tokens are fetched only "
                "over https."
            )
            % {"url": url}
        )
    if not parts.hostname:
        raise InvalidTokenURL(_("The token URL %(url)s names no server.") % {"url": url})
    if parts.username or parts.password:
        raise InvalidTokenURL(_("The token URL must not hold a username or password."))
    if "<" in url or ">" in url:
        raise InvalidTokenURL(
            _("The token URL %(url)s still holds a placeholder such as <tenant>: replace it.")
            % {"url": url}
        )


def _post_form(
    url: str, form: Mapping[str, str], *, config: ServerConfig, deadline: Deadline
) -> tuple[int, http.client.HTTPMessage, bytes]:
    check_token_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    per_step = config.timeout_seconds or MAX_REQUEST_SECONDS
    addresses = resolve_within(host, port, deadline.next_timeout(per_step))
    check_destination(host, addresses, port=port, role=TOKEN_URL)
    raw = open_socket(addresses, port, deadline.next_timeout(per_step))
    with deadline.watching(raw):
        try:
            raw.settimeout(deadline.next_timeout(per_step))
            sock: socket.socket = ssl_context(config.ca_certificate).wrap_socket(
                raw, server_hostname=host
            )
            connection = http.client.HTTPSConnection(host, port)
            connection.sock = sock
            path = parts.path or "/"
            if parts.query:
                path += f"?{parts.query}"
            sock.settimeout(deadline.next_timeout(per_step))
            connection.request(
                "POST",
                path,
                body=urlencode(form),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                },
            )
            sock.settimeout(deadline.next_timeout(per_step))
            response = connection.getresponse()
            body = response.read(MAX_ANSWER_BYTES + 1)
            return response.status, response.headers, body
        except OSError:
            if deadline.expired.is_set():
                raise TimeoutError(f"The token URL {host} did not answer in time.") from None
            raise
        finally:
            raw.close()


def _read_answer(
    status: int, headers: http.client.HTTPMessage, body: bytes, *, issuer_host: str
) -> AccessToken:
    content_type = headers.get_content_type() if headers.get("Content-Type") else ""
    if 300 <= status < 400:
        raise TokenRedirected(status, headers.get("Location", ""))
    if len(body) > MAX_ANSWER_BYTES:
        raise NotAToken(status, content_type, "", too_large=True)
    try:
        answer: Any = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise NotAToken(status, content_type, _excerpt(body))
    value = answer.get("access_token")
    if status == 200 and isinstance(value, str) and value:
        token_type = str(answer.get("token_type", "Bearer"))
        if token_type.lower() != "bearer":
            raise NotAToken(status, content_type, f"a token of type {token_type}, not Bearer")
        try:
            lifetime = float(answer.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        lifetime = max(lifetime, 1.0)
        return AccessToken(
            value=value,
            lifetime_seconds=lifetime,
            expires_at=time.monotonic() + lifetime,
            issuer_host=issuer_host,
        )
    error = answer.get("error")
    if isinstance(error, str) and error:
        description = str(answer.get("error_description", ""))
        codes = [f"AADSTS{code}" for code in answer.get("error_codes", []) if str(code).isdigit()]
        if not codes and description.startswith("AADSTS"):
            codes = [description.split(":", 1)[0].strip()]
        raise TokenRefused(status, error, " ".join(description.split()), codes)
    raise NotAToken(status, content_type, _excerpt(body))


def _excerpt(body: bytes, limit: int = 160) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[: limit - 1] + "…" if len(text) > limit else text


def _now() -> int:
    """Return the time the assertions are signed at, in whole seconds since the epoch."""
    return int(time.time())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class ClientCertificate:
    """The PEM of a client certificate: an RSA private key and the certificate that matches it."""

    key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate

    @classmethod
    def parse(cls, pem: str) -> ClientCertificate:
        # Imported here, as in the other methods: the cryptography and JWT libraries cost
        # each process several MiB, and only an OAuth 2.0 login with a certificate or a
        # service account key needs them.
        from cryptography import x509
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        data = pem.strip().encode()
        if b"PRIVATE KEY-----" not in data:
            raise InvalidCredential(
                _(
                    "The client certificate holds no private key: paste the PEM private key "
                    "followed by the certificate."
                )
            )
        if b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data:
            raise InvalidCredential(
                _(
                    "The private key of the client certificate is protected by a passphrase; "
                    "paste it without one (openssl pkey -in key.pem -out plain-key.pem)."
                )
            )
        block = _PRIVATE_KEY_BLOCK.search(data)
        try:
            if block is None:
                raise ValueError("no private key block")
            key = serialization.load_pem_private_key(block.group(0), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InvalidCredential(
                _("The private key of the client certificate could not be read.")
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise InvalidCredential(
                _(
                    "The client certificate's key must be an RSA key: client assertions are signed "
                    "with RS256."
                )
            )
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            certificates = []
        public = key.public_key().public_numbers()
        for certificate in certificates:
            candidate = certificate.public_key()
            if isinstance(candidate, rsa.RSAPublicKey) and candidate.public_numbers() == public:
                return cls(key=key, certificate=certificate)
        if not certificates:
            raise InvalidCredential(
                _(
                    "The client certificate holds no certificate: paste the private key followed "
                    "by the certificate (-----BEGIN CERTIFICATE-----)."
                )
            )
        raise InvalidCredential(_("The certificate does not belong to the private key."))

    @property
    def thumbprint_sha256(self) -> str:
        from cryptography.hazmat.primitives import hashes

        return _b64url(self.certificate.fingerprint(hashes.SHA256()))

    def assertion(self, *, client_id: str, audience: str) -> str:
        import jwt
        from cryptography.hazmat.primitives import hashes

        now = _now()
        headers = {
            "x5t#S256": self.thumbprint_sha256,
            "x5t": _b64url(self.certificate.fingerprint(hashes.SHA1())),  # noqa: S303
        }
        claims = {
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)


@dataclass(frozen=True)
class ServiceAccountKey:
    """A Google service account's JSON key: who it is, its private key, and its token URL."""

    client_email: str
    client_id: str
    private_key_id: str
    token_uri: str
    key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> ServiceAccountKey:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidCredential(
                _(
                    "The service account key is not JSON: paste the whole key file as Google "
                    "created it."
                )
            ) from None
        if not isinstance(data, dict) or data.get("type") != "service_account":
            raise InvalidCredential(
                _("This JSON is not a service account key (its type should be service_account).")
            )
        missing = [
            name
            for name in ("client_email", "private_key", "private_key_id", "token_uri")
            if not isinstance(data.get(name), str) or not data.get(name)
        ]
        if missing:
            raise InvalidCredential(
                _("The service account key lacks %(fields)s: download a new JSON key.")
                % {"fields": ", ".join(missing)}
            )
        try:
            key = serialization.load_pem_private_key(data["private_key"].encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InvalidCredential(
                _("The private key in the service account key could not be read.")
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise InvalidCredential(_("The service account key's private key is not an RSA key."))
        return cls(
            client_email=data["client_email"],
            client_id=str(data.get("client_id", "")),
            private_key_id=data["private_key_id"],
            token_uri=data["token_uri"],
            key=key,
        )

    def assertion(self, *, subject: str, audience: str) -> str:
        import jwt

        now = _now()
        claims = {
            "iss": self.client_email,
            "sub": subject,
            "scope": GOOGLE_SCOPE,
            "aud": audience,
            "iat": now,
            "exp": now + GOOGLE_ASSERTION_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.private_key_id})
