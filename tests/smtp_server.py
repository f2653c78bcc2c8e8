"""A real SMTP server for the test suite: aiosmtpd on 127.0.0.1, plain, STARTTLS or implicit TLS.

Registered from tests/conftest.py. Fixtures:

- ``test_ca`` (session): a private CA. It is a ``str`` holding the CA's PEM (so it can be pasted
  into the CA certificate field as is), with ``.pem`` and ``.authority`` (the trustme.CA).
- ``smtp_server_factory``: ``smtp_server_factory(mode="plain"|"starttls"|"tls", auth=False, ...)``
  starts a server and returns an ``SMTPTestServer``; every server is stopped after the test.
  With ``oauth=token_endpoint`` (tests/oauth_provider.py) the server requires AUTH and offers
  ``AUTH XOAUTH2``, answering refusals as Microsoft 365 or Gmail do (``xoauth2_style``);
  ``password_login=False`` refuses LOGIN and PLAIN as Microsoft 365 does without basic auth.
  Postfix's behaviours: ``smtputf8`` offers SMTPUTF8; ``rcpt_reply`` answers every RCPT with
  a refusal such as ``SENDER_NOT_OWNED``; ``require_fqdn_helo`` refuses a greeting name without
  a dot at RCPT (``504 5.5.2 <name>: Helo command rejected``); ``max_size`` refuses bigger mail
  with ``552 5.3.4``; ``greylist_seconds`` answers a new sender and recipient pair with
  ``450 4.7.1 ... Greylisted`` until that many seconds have passed since it was first seen.
- ``smtp_server``: a plain server without authentication.
- ``closed_port``: a port on 127.0.0.1 where nothing listens (bound, then closed).
- ``silent_port``: a port on 127.0.0.1 that accepts connections and never says a word.
"""

from __future__ import annotations

import asyncio
import binascii
import email
import email.message
import email.policy
import ipaddress
import logging
import socket
import ssl
import threading
import time
from base64 import b64decode
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.credentials import private_key_pem, self_signed_certificate

if TYPE_CHECKING:
    from autommate.mailserver.connection import ServerConfig
    from autommate.mailserver.models import MailServerSettings

Mode = Literal["plain", "starttls", "tls"]
CertKind = Literal["ca", "self-signed", "wrong-name"]
XOAuth2Style = Literal["microsoft", "google"]

HOST = "127.0.0.1"
SERVER_NAMES = ("localhost", "127.0.0.1")
WRONG_NAME = "mail.wrong-name.test"
DEFAULT_USERNAME = "mailer"
DEFAULT_PASSWORD = "s3cret-pass"
# The refusals of the real servers, word for word (Microsoft appends its server's name in brackets).
MICROSOFT_XOAUTH2_REFUSED = "535 5.7.3 Authentication unsuccessful"
MICROSOFT_BASIC_AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
)
# Gmail first sends this JSON as a 334 challenge, then, after the client's empty answer, the 535.
GOOGLE_XOAUTH2_ERROR = '{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}'
GOOGLE_BAD_CREDENTIALS = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials 5b1f17b1804b1-autommate.gsmtp"
)
# Postfix's refusals at RCPT, word for word.
SENDER_NOT_OWNED = "553 5.7.1 <{sender}>: Sender address rejected: not owned by user {login}"
HELO_REJECTED = "504 5.5.2 <{name}>: Helo command rejected: need fully-qualified hostname"
SIZE_EXCEEDED = "552 5.3.4 Message size exceeds fixed limit"
GREYLISTED = (
    "450 4.7.1 <{recipient}>: Recipient address rejected: Greylisted, see "
    "http://postgrey.schweikert.ch/help/example.org.html"
)
_CONFIG_FIELDS = {
    "host",
    "port",
    "protocol",
    "use_tls",
    "use_auth",
    "username",
    "password",
    "allow_insecure_login",
    "ca_certificate",
    "timeout_seconds",
}


def pytest_configure(config: pytest.Config) -> None:
    # Tests log in over plain connections on purpose; aiosmtpd warns about it on every connection,
    # and about its own use of a deprecated attribute on every login.
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )
    logging.getLogger("mail.log").setLevel(logging.ERROR)


class LocalCA(str):
    """The PEM of a private test CA, which also issues the test servers' certificates."""

    authority: trustme.CA
    _directory: Path
    _contexts: dict[CertKind, ssl.SSLContext]

    def __new__(cls, authority: trustme.CA, directory: Path) -> LocalCA:
        self = super().__new__(cls, authority.cert_pem.bytes().decode())
        self.authority = authority
        self._directory = directory
        self._contexts = {}
        return self

    @property
    def pem(self) -> str:
        return str(self)

    def server_context(self, cert: CertKind = "ca") -> ssl.SSLContext:
        """Return a server-side context presenting the chosen kind of certificate."""
        if cert not in self._contexts:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            if cert == "ca":
                self.authority.issue_cert(*SERVER_NAMES).configure_cert(context)
            elif cert == "wrong-name":
                self.authority.issue_cert(WRONG_NAME).configure_cert(context)
            else:
                certificate, key = _self_signed(self._directory)
                context.load_cert_chain(certificate, key)
            self._contexts[cert] = context
        return self._contexts[cert]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for the server names and return its and its key's path."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed_certificate(
        key,
        "localhost",
        names=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        days=1,
    )
    certificate_path = directory / "self-signed.pem"
    key_path = directory / "self-signed.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_text(private_key_pem(key))
    return certificate_path, key_path


class TokenChecker(Protocol):
    """What the XOAUTH2 login asks: tests.oauth_provider.TokenEndpoint is one."""

    def token_valid(self, token: str, *, user: str) -> bool: ...


def parse_xoauth2(response: bytes) -> tuple[str, str] | None:
    """Return the user and bearer token of a decoded XOAUTH2 response, None if it is not one.

    The response is ``user={user}\\x01auth=Bearer {token}\\x01\\x01``.
    """
    try:
        text = response.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.endswith("\x01\x01"):
        return None
    fields: dict[str, str] = {}
    for part in text[:-2].split("\x01"):
        key, equals, value = part.partition("=")
        if not equals:
            return None
        fields[key] = value
    scheme, _, token = fields.get("auth", "").partition(" ")
    user = fields.get("user", "")
    if not user or scheme.lower() != "bearer" or not token:
        return None
    return user, token


class ReceivedMessage(email.message.EmailMessage):
    """A message the test server accepted, parsed with email.policy.default, with its envelope."""

    mail_from: str
    rcpt_tos: list[str]
    peer: str
    login: str | None
    smtputf8: bool
    # The message as the server received it, before parsing.
    raw: bytes

    def __init__(self, policy: Any = None) -> None:
        super().__init__(policy=policy or email.policy.default)
        self.raw = b""
        self.mail_from = ""
        self.rcpt_tos = []
        self.peer = ""
        self.login = None
        self.smtputf8 = False


# Exchange Online's answer to a mailbox over its submission limit.
THROTTLED_REPLY = (
    "421 4.3.2 The server is busy; message submission rate for this client has exceeded the "
    "configured limit"
)


class SMTPTestServer:
    """One aiosmtpd server on 127.0.0.1 and what it has seen."""

    host = HOST

    def __init__(
        self,
        *,
        mode: Mode = "plain",
        auth: bool = False,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        require_starttls: bool = False,
        reject_senders: Collection[str] = (),
        reject_recipients: Collection[str] = (),
        temporary_failures: int = 0,
        delay_seconds: float = 0.0,
        cert: CertKind = "ca",
        ca: LocalCA | None = None,
        oauth: TokenChecker | None = None,
        xoauth2_style: XOAuth2Style = "microsoft",
        password_login: bool = True,
        smtputf8: bool = False,
        rcpt_reply: str = "",
        require_fqdn_helo: bool = False,
        max_size: int = 0,
        greylist_seconds: float = 0.0,
    ) -> None:
        if mode != "plain" and ca is None:
            raise ValueError("A TLS test server needs the test CA.")
        self.mode = mode
        # A server that takes OAuth 2.0 logins requires a login, as the real ones do.
        self.auth = auth or oauth is not None
        self.oauth = oauth
        self.xoauth2_style = xoauth2_style
        self.password_login = password_login
        self.smtputf8 = smtputf8
        self.rcpt_reply = rcpt_reply
        self.require_fqdn_helo = require_fqdn_helo
        self.max_size = max_size
        self.greylist_seconds = greylist_seconds
        # When each (sender, recipient) pair was first turned away by greylisting.
        self.greylisted: dict[tuple[str, str], float] = {}
        # The name the client greeted with, per EHLO or HELO.
        self.greeting_names: list[str] = []
        self.username = username
        self.password = password
        self.require_starttls = require_starttls
        self.reject_senders = {address.lower() for address in reject_senders}
        self.reject_recipients = {address.lower() for address in reject_recipients}
        self.temporary_failures = temporary_failures
        self.delay_seconds = delay_seconds
        self.cert = cert
        self.ca = ca
        self.port = 0
        # Every command verb received, in order, across connections ("EHLO", "AUTH", "MAIL"...).
        self.commands: list[str] = []
        # The username of every AUTH attempt, successful or not.
        self.logins: list[str] = []
        self.messages: list[ReceivedMessage] = []
        # The most messages whose DATA the server was handling at one time, across connections.
        self.most_data_at_once = 0
        self._data_now = 0
        # The most client connections open at one time (from accepting one until its QUIT or
        # its end, whichever comes first), across every client.
        self.most_connections_at_once = 0
        self.connections_now = 0
        # Set to answer "421 4.3.2" as Exchange Online does once this many messages were accepted
        # within `throttle_window_seconds`.
        self.throttle_after: int | None = None
        self.throttle_window_seconds = 60.0
        self.throttled = 0
        self._accepted_at: list[float] = []
        self._condition = threading.Condition()
        self._controller: _Controller | None = None

    def __repr__(self) -> str:
        return f"<SMTPTestServer {self.mode} {self.host}:{self.port}>"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> SMTPTestServer:
        """Start listening, on the same port as before when restarted."""
        if self._controller is None:
            controller = _Controller(self)
            controller.start()
            self.port = controller.port
            self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def config(self, **overrides: Any) -> ServerConfig:
        """Return a ServerConfig that reaches this server (TLS trusted through the test CA).

        A plain server stands for the relay on the same machine that Allow login without TLS
        is for, so its config allows a login without TLS unless told otherwise.
        """
        from autommate.mailserver.connection import ServerConfig

        values: dict[str, Any] = {
            "host": "localhost",
            "port": self.port,
            "protocol": "smtps" if self.mode == "tls" else "smtp",
            "use_tls": self.mode == "starttls",
            "use_auth": self.auth,
            "username": self.username if self.auth else "",
            "password": self.password if self.auth else "",
            "allow_insecure_login": self.mode == "plain",
            "ca_certificate": self.ca.pem if self.ca is not None and self.mode != "plain" else "",
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        return ServerConfig(**values)

    def save_settings(self, **overrides: Any) -> MailServerSettings:
        """Save this server as the mail server (pk=1), password encrypted; needs the database."""
        from autommate.mailserver.models import MailServerSettings
        from autommate.mailserver.secrets import encrypt

        config = self.config(**{k: v for k, v in overrides.items() if k in _CONFIG_FIELDS})
        values: dict[str, Any] = {
            "host": config.host,
            "port": config.port,
            "protocol": config.protocol,
            "use_tls": config.use_tls,
            "use_auth": config.use_auth,
            "username": config.username,
            "password_encrypted": encrypt(config.password) if config.password else "",
            "allow_insecure_login": config.use_auth and config.allow_insecure_login,
            "ca_certificate": config.ca_certificate,
            "timeout_seconds": int(config.timeout_seconds),
            "sender_name": "Autom Mate",
            "sender_email": "autommate@example.org",
        }
        values.update({k: v for k, v in overrides.items() if k not in _CONFIG_FIELDS})
        saved, _ = MailServerSettings.objects.update_or_create(pk=1, defaults=values)
        return saved

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Return the accepted messages once there are at least count of them."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(
                    f"{self!r} received {len(self.messages)} message(s) within {timeout} s, "
                    f"expected {count}."
                )
            return list(self.messages)

    # Called from the server's event loop thread.

    def _record_command(self, verb: str) -> None:
        with self._condition:
            self.commands.append(verb)

    def _record_greeting(self, name: str) -> None:
        with self._condition:
            self.greeting_names.append(name)

    def _greylisted(self, sender: str, recipient: str) -> bool:
        """Whether postgrey would turn this pair away now: first seen too recently."""
        if not self.greylist_seconds:
            return False
        key = (sender.lower(), recipient.lower())
        now = time.monotonic()
        with self._condition:
            first_seen = self.greylisted.setdefault(key, now)
        return now - first_seen < self.greylist_seconds

    def _record_login(self, login: str) -> None:
        with self._condition:
            self.logins.append(login)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        self._record_login(login)
        if not self.password_login:
            refusal = (
                GOOGLE_BAD_CREDENTIALS
                if self.xoauth2_style == "google"
                else MICROSOFT_BASIC_AUTH_DISABLED
            )
            return AuthResult(success=False, handled=False, message=refusal)
        ok = login == self.username and data.password.decode("utf-8", "replace") == self.password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def _authenticate_xoauth2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2: the initial response comes with AUTH or after an empty challenge."""
        if len(args) == 1:
            answer = await server.challenge_auth("")
            if answer is MISSING:  # aborted with "*" or not base64, already answered
                return AuthResult(success=False, handled=True)
            response = answer
        else:
            try:
                response = b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        parsed = parse_xoauth2(response)
        if parsed is not None:
            user, token = parsed
            self._record_login(user)
            assert self.oauth is not None
            if self.oauth.token_valid(token, user=user):
                return AuthResult(success=True, handled=False, auth_data=user)
        if self.xoauth2_style == "google":
            # Gmail explains in a challenge, and refuses once the client has answered it.
            if await server.challenge_auth(GOOGLE_XOAUTH2_ERROR) is MISSING:
                return AuthResult(success=False, handled=True)
            return AuthResult(success=False, handled=False, message=GOOGLE_BAD_CREDENTIALS)
        return AuthResult(success=False, handled=False, message=MICROSOFT_XOAUTH2_REFUSED)

    def _take_temporary_failure(self) -> bool:
        with self._condition:
            if self.temporary_failures > 0:
                self.temporary_failures -= 1
                return True
            return False

    def _over_send_limit(self) -> bool:
        if self.throttle_after is None:
            return False
        now = time.monotonic()
        with self._condition:
            self._accepted_at = [
                at for at in self._accepted_at if now - at < self.throttle_window_seconds
            ]
            if len(self._accepted_at) >= self.throttle_after:
                self.throttled += 1
                return True
            self._accepted_at.append(now)
            return False

    def _receive(self, session: Session, envelope: Envelope) -> None:
        content = envelope.original_content or b""
        message = cast(
            ReceivedMessage,
            email.message_from_bytes(content, _class=ReceivedMessage, policy=email.policy.default),
        )
        message.raw = content
        message.mail_from = envelope.mail_from or ""
        message.rcpt_tos = list(envelope.rcpt_tos)
        message.peer = str(session.peer)
        message.smtputf8 = bool(envelope.smtp_utf8)
        message.login = session.auth_data if isinstance(session.auth_data, str) else None
        with self._condition:
            self.messages.append(message)
            self._condition.notify_all()


class _Handler:
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> Any:
        if address.lower() in self.server.reject_senders:
            return "550 5.7.1 Sender address rejected: not allowed to send as this address"
        size = next((o[5:] for o in options if o.upper().startswith("SIZE=")), "")
        if self.server.max_size and size.isdigit() and int(size) > self.server.max_size:
            return SIZE_EXCEEDED
        return MISSING

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.server._record_greeting(hostname)
        session.host_name = hostname
        return responses

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        self.server._record_greeting(hostname)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> Any:
        if address.lower() in self.server.reject_recipients:
            return "550 5.1.1 Recipient address rejected: user unknown"
        # Postfix delays its refusals of the greeting and the sender to RCPT (smtpd_delay_reject).
        name = session.host_name or ""
        if self.server.require_fqdn_helo and "." not in name.strip("[]"):
            return HELO_REJECTED.format(name=name)
        if self.server.rcpt_reply:
            login = session.auth_data if isinstance(session.auth_data, str) else ""
            return self.server.rcpt_reply.format(
                sender=envelope.mail_from or "", recipient=address, login=login
            )
        if self.server._greylisted(envelope.mail_from or "", address):
            return GREYLISTED.format(recipient=address)
        return MISSING

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        # aiosmtpd offers a mechanism for every auth_<NAME> method of the handler; servers
        # without an OAuth provider leave this one out (auth_exclude_mechanism).
        return await self.server._authenticate_xoauth2(server, args)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Handlers run on the server's one event loop thread: no lock needed for the count.
        self.server._data_now += 1
        self.server.most_data_at_once = max(self.server.most_data_at_once, self.server._data_now)
        try:
            if self.server.delay_seconds:
                await asyncio.sleep(self.server.delay_seconds)
        finally:
            self.server._data_now -= 1
        content = envelope.original_content or b""
        if self.server.max_size and len(content) > self.server.max_size:
            return SIZE_EXCEEDED
        if self.server._take_temporary_failure():
            return "451 4.3.0 Temporary failure, please try again later"
        if self.server._over_send_limit():
            return THROTTLED_REPLY
        self.server._receive(session, envelope)
        return "250 2.0.0 OK: queued"


class _RecordingSMTP(SMTP):
    """aiosmtpd's server protocol, noting every command verb before it is handled, and counting
    the connections open at once."""

    def __init__(self, handler: Any, *, test_server: SMTPTestServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._test_server = test_server
        self._counted = False
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._recording(verb, method, test_server)
        self._smtp_methods["QUIT"] = self._quitting(self._smtp_methods["QUIT"])

    # Called on the server's one event loop thread, like the handlers.
    def connection_made(self, transport: Any) -> None:
        server = self._test_server
        server.connections_now += 1
        server.most_connections_at_once = max(
            server.most_connections_at_once, server.connections_now
        )
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._uncount()
        super().connection_lost(error)

    def _uncount(self) -> None:
        if self._counted:
            self._counted = False
            self._test_server.connections_now -= 1

    def _quitting(self, method: Callable[[str | None], Any]) -> Callable[[str | None], Any]:
        # A client that said QUIT is done, though the socket may close a moment later.
        async def uncount_then_quit(arg: str | None) -> None:
            self._uncount()
            await method(arg)

        return uncount_then_quit

    @staticmethod
    def _recording(
        verb: str, method: Callable[[str | None], Any], test_server: SMTPTestServer
    ) -> Callable[[str | None], Any]:
        async def record_then_handle(arg: str | None) -> None:
            test_server._record_command(verb)
            await method(arg)

        return record_then_handle


class _Controller(Controller):
    def __init__(self, test_server: SMTPTestServer) -> None:
        self.test_server = test_server
        kwargs: dict[str, Any] = {
            "server_hostname": "localhost",
            "ready_timeout": 5.0,
            "enable_SMTPUTF8": test_server.smtputf8,
        }
        mode = test_server.mode
        if mode != "plain":
            assert test_server.ca is not None
            context = test_server.ca.server_context(test_server.cert)
            if mode == "tls":
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = test_server.require_starttls
        if test_server.auth:
            kwargs["authenticator"] = test_server._authenticate
            kwargs["auth_required"] = True
            # aiosmtpd counts only STARTTLS as TLS; implicit TLS and plain tests need AUTH anyway.
            kwargs["auth_require_tls"] = mode == "starttls"
        else:
            kwargs["auth_require_tls"] = True
        if test_server.oauth is None:
            kwargs["auth_exclude_mechanism"] = ["XOAUTH2"]
        super().__init__(_Handler(test_server), hostname=HOST, port=test_server.port, **kwargs)

    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, test_server=self.test_server, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 lets the system choose a free port; readiness is checked on the one it chose.
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SMTPServerFactory(Protocol):
    def __call__(
        self,
        mode: Mode = "plain",
        *,
        auth: bool = False,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        require_starttls: bool = False,
        reject_senders: Collection[str] = (),
        reject_recipients: Collection[str] = (),
        temporary_failures: int = 0,
        delay_seconds: float = 0.0,
        cert: CertKind = "ca",
        oauth: TokenChecker | None = None,
        xoauth2_style: XOAuth2Style = "microsoft",
        password_login: bool = True,
        smtputf8: bool = False,
        rcpt_reply: str = "",
        require_fqdn_helo: bool = False,
        max_size: int = 0,
        greylist_seconds: float = 0.0,
    ) -> SMTPTestServer: ...


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA(trustme.CA(), tmp_path_factory.mktemp("test-ca"))


@pytest.fixture
def smtp_server_factory(test_ca: LocalCA) -> Iterator[SMTPServerFactory]:
    started: list[SMTPTestServer] = []

    def start(
        mode: Mode = "plain",
        *,
        auth: bool = False,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        require_starttls: bool = False,
        reject_senders: Collection[str] = (),
        reject_recipients: Collection[str] = (),
        temporary_failures: int = 0,
        delay_seconds: float = 0.0,
        cert: CertKind = "ca",
        oauth: TokenChecker | None = None,
        xoauth2_style: XOAuth2Style = "microsoft",
        password_login: bool = True,
        smtputf8: bool = False,
        rcpt_reply: str = "",
        require_fqdn_helo: bool = False,
        max_size: int = 0,
        greylist_seconds: float = 0.0,
    ) -> SMTPTestServer:
        server = SMTPTestServer(
            mode=mode,
            auth=auth,
            username=username,
            password=password,
            require_starttls=require_starttls,
            reject_senders=reject_senders,
            reject_recipients=reject_recipients,
            temporary_failures=temporary_failures,
            delay_seconds=delay_seconds,
            cert=cert,
            ca=test_ca,
            oauth=oauth,
            xoauth2_style=xoauth2_style,
            password_login=password_login,
            smtputf8=smtputf8,
            rcpt_reply=rcpt_reply,
            require_fqdn_helo=require_fqdn_helo,
            max_size=max_size,
            greylist_seconds=greylist_seconds,
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: SMTPServerFactory) -> SMTPTestServer:
    return smtp_server_factory()


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    # A listening socket that is never accepted from: the system completes the TCP handshake,
    # and the client then waits for a greeting that never comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen(8)
        yield sock.getsockname()[1]
