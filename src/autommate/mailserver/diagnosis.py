"""The test mail: one SMTP conversation, driven step by step and explained in plain words.

A failed test mail is only useful if the administrator can tell what to change, so every step of
the conversation (resolve, connect, TLS, greeting, login, sender, recipient, message) is recorded
as passed, failed or skipped, and a failure carries a cause and a fix. The same explanations serve
the delivery queue through explain(), which also says whether a failure is worth retrying.
"""

from __future__ import annotations

import base64
import errno
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from django.conf import settings
from django.core.mail.utils import DNS_NAME

from .connection import (
    ConflictingTLSSettings,
    InvalidCACertificate,
    IPAddress,
    MailServerNotConfigured,
    ServerConfig,
    SMTPOverSocket,
    open_socket,
    resolve,
    ssl_context,
)
from .destinations import DestinationRefused, check_destination
from .secrets import UndecryptableSecret

logger = logging.getLogger(__name__)

# However long an operator allows, an administrator waits for the page no longer than this.
MAX_DEADLINE_SECONDS = 15.0
# Saying goodbye must not hold the page up when the server is slow to answer QUIT.
QUIT_TIMEOUT_SECONDS = 2.0
# Server replies are quoted in causes; a misbehaving server must not fill the page.
MAX_REPLY_CHARS = 200
_BARE_LF = re.compile(rb"(?<!\r)\n")


class StepName(StrEnum):
    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    GREETING = "greeting"
    LOGIN = "login"
    SENDER = "sender"
    RECIPIENT = "recipient"
    MESSAGE = "message"

    @property
    def label(self) -> str:
        return STEP_LABELS[self]


STEP_LABELS: dict[StepName, str] = {
    StepName.RESOLVE: "Resolve server name",
    StepName.CONNECT: "Connect",
    StepName.TLS: "TLS handshake",
    StepName.GREETING: "Greeting (EHLO)",
    StepName.LOGIN: "Log in",
    StepName.SENDER: "Sender accepted",
    StepName.RECIPIENT: "Recipient accepted",
    StepName.MESSAGE: "Message accepted",
}

StepStatus = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Step:
    name: StepName
    label: str
    status: StepStatus
    detail: str = ""
    cause: str = ""
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "name": str(self.name),
            "label": self.label,
            "status": self.status,
            "detail": self.detail,
            "cause": self.cause,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Diagnosis:
    """The steps of one test-mail conversation, in the order they happened."""

    steps: list[Step]
    # Whether the failure, if any, is of the kind that may go away by itself (a 4xx, a timeout).
    temporary: bool = False
    elapsed_seconds: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        return self.failure is None and any(
            step.name == StepName.MESSAGE and step.status == "passed" for step in self.steps
        )

    @property
    def failure(self) -> Step | None:
        return next((step for step in self.steps if step.status == "failed"), None)

    def step(self, name: StepName) -> Step:
        return next(step for step in self.steps if step.name == name)

    def as_dict(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "ok": self.ok,
            "failed_step": str(failure.name) if failure else None,
            "temporary": self.temporary,
            "steps": [step.as_dict() for step in self.steps],
        }


@dataclass(frozen=True)
class Explanation:
    step: StepName
    cause: str
    fix: str
    temporary: bool


_STEP_ATTRIBUTE = "_autommate_mail_step"


@contextmanager
def at_step(step: StepName) -> Iterator[None]:
    """Mark any exception raised inside as having happened at this step of the conversation."""
    try:
        yield
    except Exception as error:
        if step_of(error) is None:
            mark_step(error, step)
        raise


def mark_step(error: BaseException, step: StepName) -> None:
    """Record on the error the step of the conversation at which it happened."""
    # An exception type with __slots__ cannot carry the mark; it is then inferred from the type.
    with suppress(AttributeError):
        setattr(error, _STEP_ATTRIBUTE, step)


def step_of(error: BaseException) -> StepName | None:
    """Return the step at_step() marked the error with, if any."""
    step = getattr(error, _STEP_ATTRIBUTE, None)
    return step if isinstance(step, StepName) else None


def explain(error: BaseException, *, config: ServerConfig | None = None) -> Explanation:
    """Return the step a failure happened at, its cause and fix, and whether it is temporary.

    Temporary failures (refused or reset connections, timeouts, interrupted TLS handshakes,
    DNS hiccups, 4xx replies) are worth retrying; permanent ones (5xx replies, rejected logins,
    certificate problems, no STARTTLS, refused destinations) need someone to change something.
    """
    step = step_of(error) or _infer_step(error)
    return _Explainer(error, step, config).explain()


def _infer_step(error: BaseException) -> StepName:
    if isinstance(error, socket.gaierror | MailServerNotConfigured):
        return StepName.RESOLVE
    if isinstance(error, ssl.SSLError | ConflictingTLSSettings | InvalidCACertificate):
        return StepName.TLS
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return StepName.TLS if "STARTTLS" in str(error).upper() else StepName.LOGIN
    if isinstance(error, smtplib.SMTPAuthenticationError | UndecryptableSecret):
        return StepName.LOGIN
    if isinstance(error, smtplib.SMTPSenderRefused):
        return StepName.SENDER
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return StepName.RECIPIENT
    if isinstance(error, smtplib.SMTPDataError):
        return StepName.MESSAGE
    if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        return StepName.GREETING
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return StepName.GREETING
    return StepName.CONNECT


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = " ".join(text.split())
    if len(text) > MAX_REPLY_CHARS:
        text = text[: MAX_REPLY_CHARS - 1] + "…"
    return f"{code} {text}".strip() if code >= 0 else text


def _ssl_reason(error: ssl.SSLError) -> str:
    # OpenSSL's short reason ("WRONG_VERSION_NUMBER"); errors raised by Python itself have none.
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else ""


def _is_timeout(error: BaseException) -> bool:
    """Return whether the error is a timeout, also when smtplib reported it as a disconnection."""
    if isinstance(error, TimeoutError):
        return True
    return isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(
        error.__context__, TimeoutError
    )


def _is_connection_lost(error: BaseException) -> bool:
    return isinstance(
        error,
        ConnectionResetError
        | ConnectionAbortedError
        | BrokenPipeError
        | smtplib.SMTPServerDisconnected
        | ssl.SSLEOFError,
    ) or (isinstance(error, ssl.SSLError) and "EOF" in str(error).upper())


# OpenSSL's words for "the other side does not speak TLS", seen when SMTPS meets a plain port.
_PLAIN_TEXT_REASONS = {
    "WRONG_VERSION_NUMBER",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL",
    "RECORD_LAYER_FAILURE",
    "WRONG_SSL_VERSION",
}
_OLD_PROTOCOL_REASONS = {
    "UNSUPPORTED_PROTOCOL",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "NO_PROTOCOLS_AVAILABLE",
    "VERSION_TOO_LOW",
}

_PORT_ADVICE = (
    "Usually SMTP with Enable TLS (STARTTLS) is on port 587, SMTPS on port 465, and plain SMTP "
    "between servers on port 25."
)


class _Explainer:
    def __init__(self, error: BaseException, step: StepName, config: ServerConfig | None) -> None:
        self.error = error
        self.step = step
        self.config = config

    @property
    def host(self) -> str:
        return self.config.host if self.config else "the mail server"

    @property
    def where(self) -> str:
        if self.config:
            return f"{self.config.host} (port {self.config.port})"
        return "The mail server"

    def result(self, cause: str, fix: str, *, temporary: bool) -> Explanation:
        return Explanation(step=self.step, cause=cause, fix=fix, temporary=temporary)

    def explain(self) -> Explanation:
        error = self.error
        if isinstance(error, MailServerNotConfigured):
            return self.result(
                "No mail server is configured yet.",
                "Enter the server name and sender email on the mail settings page and save.",
                temporary=False,
            )
        if isinstance(error, DestinationRefused):
            return self.result(
                str(error),
                "Use a mail server at an allowed address. An operator can change the allowed "
                "destinations with AUTOMMATE_MAIL_ALLOWED_DESTINATIONS.",
                temporary=False,
            )
        if isinstance(error, UndecryptableSecret):
            return self.result(
                "The saved password cannot be decrypted with the configured encryption keys.",
                "Enter the password again and save the mail settings.",
                temporary=False,
            )
        if isinstance(error, ConflictingTLSSettings):
            return self.result(
                "SMTPS and Enable TLS (STARTTLS) were both chosen. SMTPS encrypts the connection "
                "from the first byte, while STARTTLS upgrades a plain SMTP connection; a port "
                "uses one or the other.",
                "For port 465 choose SMTPS and turn off Enable TLS; for port 587 choose SMTP and "
                "keep Enable TLS on.",
                temporary=False,
            )
        if isinstance(error, InvalidCACertificate):
            return self.result(
                str(error),
                "Paste the CA certificate in PEM format, from -----BEGIN CERTIFICATE----- to "
                "-----END CERTIFICATE-----, or leave the field empty for a server whose "
                "certificate is publicly trusted.",
                temporary=False,
            )
        method = {
            StepName.RESOLVE: self.resolve,
            StepName.CONNECT: self.connect,
            StepName.TLS: self.tls,
            StepName.GREETING: self.greeting,
            StepName.LOGIN: self.login,
            StepName.SENDER: self.sender,
            StepName.RECIPIENT: self.recipient,
            StepName.MESSAGE: self.message,
        }[self.step]
        return method()

    # Generic answers shared by several steps.

    def timeout(self, what: str) -> Explanation:
        return self.result(
            f"{self.where} did not answer in time {what}.",
            "Try again later. If it keeps happening, check that the server name and port are "
            "right and that no firewall holds the connection up.",
            temporary=True,
        )

    def connection_lost(self, what: str) -> Explanation:
        return self.result(
            f"{self.where} closed the connection unexpectedly {what}.",
            "Try again later. If it keeps happening, the server may be refusing this machine: "
            "ask the mail server's administrator.",
            temporary=True,
        )

    def reply(self, code: int, text: str, *, doing: str) -> Explanation:
        if 400 <= code < 500:
            return self.result(
                f"The server could not {doing} for now and asked to try again later (“{text}”).",
                "Try again in a few minutes; temporary replies usually clear by themselves.",
                temporary=True,
            )
        return self.result(
            f"The server refused to {doing} (“{text}”).",
            "The server's reply says why; if it is unclear, ask the mail server's administrator.",
            temporary=False,
        )

    def unexpected(self) -> Explanation:
        return self.result(
            f"An unexpected error occurred ({type(self.error).__name__}: {self.error}).",
            "Try again; if it keeps happening, look at the application's log.",
            temporary=False,
        )

    def common(self, what: str) -> Explanation | None:
        if _is_timeout(self.error):
            return self.timeout(what)
        if _is_connection_lost(self.error):
            return self.connection_lost(what)
        return None

    # One method per step.

    def resolve(self) -> Explanation:
        error = self.error
        if isinstance(error, socket.gaierror):
            not_found = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
            if error.errno in not_found:
                return self.result(
                    f"The server name {self.host} could not be found: DNS knows no such name.",
                    "Check the spelling of the server name (for example smtp.example.com), or "
                    "enter the server's IP address.",
                    temporary=False,
                )
            if error.errno == socket.EAI_FAIL:
                return self.result(
                    f"Looking up {self.host} failed: the DNS servers gave a permanent error.",
                    "Check the server name and this machine's DNS settings.",
                    temporary=False,
                )
            return self.result(
                f"Looking up {self.host} failed for now ({error.strerror or error}).",
                "Try again in a moment; if it keeps happening, check this machine's DNS settings.",
                temporary=True,
            )
        if _is_timeout(error):
            return self.result(
                f"Looking up {self.host} in DNS took too long.",
                "Try again in a moment; if it keeps happening, check this machine's DNS settings.",
                temporary=True,
            )
        return self.unexpected()

    def connect(self) -> Explanation:
        error = self.error
        if isinstance(error, ConnectionRefusedError):
            return self.result(
                f"{self.where} refused the connection: no mail server is listening on that port.",
                f"Check the server name and port. {_PORT_ADVICE} Also check that the mail "
                "server is running and that no firewall rejects the connection.",
                temporary=True,
            )
        if _is_timeout(error):
            return self.result(
                f"{self.where} did not answer the connection attempt in time.",
                "Check the server name and port, and that a firewall allows outgoing connections "
                "to that port (many networks block port 25).",
                temporary=True,
            )
        if isinstance(error, OSError) and error.errno in {
            errno.ENETUNREACH,
            errno.EHOSTUNREACH,
            errno.EADDRNOTAVAIL,
        }:
            return self.result(
                f"There is no network route from this machine to {self.host}.",
                "Check the server name, and this machine's network and firewall settings.",
                temporary=True,
            )
        if _is_connection_lost(error):
            return self.connection_lost("while connecting")
        if isinstance(error, OSError):
            return self.result(
                f"Could not connect to {self.where} ({error.strerror or error}).",
                "Check the server name and port; if they are right, try again later.",
                temporary=True,
            )
        return self.unexpected()

    def tls(self) -> Explanation:
        error = self.error
        implicit = self.config.implicit_tls if self.config else False
        if isinstance(error, smtplib.SMTPNotSupportedError):
            return self.result(
                f"{self.where} does not offer STARTTLS, so the connection could not be "
                "encrypted. Nothing more was sent: no login and no message.",
                "If the server uses TLS from the first byte (usually on port 465), choose SMTPS. "
                "If it really offers no encryption, turn off Enable TLS, but only on a network "
                "you trust, since the password and mail would then travel unencrypted.",
                temporary=False,
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            return self.certificate(error)
        if isinstance(error, ssl.SSLError):
            reason = _ssl_reason(error).upper()
            text = str(error).upper()
            if reason in _PLAIN_TEXT_REASONS or "WRONG VERSION NUMBER" in text:
                return self.result(
                    f"{self.where} answered in plain text instead of TLS: this port does not use "
                    "SMTPS (TLS from the first byte).",
                    "For this port choose SMTP, with Enable TLS for STARTTLS (usually port 587), "
                    "or enter the server's SMTPS port (usually 465).",
                    temporary=False,
                )
            if reason in _OLD_PROTOCOL_REASONS:
                return self.result(
                    f"{self.where} offers only outdated TLS versions (older than TLS 1.2).",
                    "Ask the mail server's administrator to enable TLS 1.2 or newer.",
                    temporary=False,
                )
        if _is_timeout(error):
            hint = (
                " A port that expects plain SMTP may be waiting for a command instead."
                if implicit
                else ""
            )
            return self.result(
                f"The TLS handshake with {self.where} did not finish in time.{hint}",
                f"Check the protocol and port ({_PORT_ADVICE}). If they are right, try again "
                "later.",
                temporary=True,
            )
        if _is_connection_lost(error):
            hint = " This often means that the port does not use SMTPS." if implicit else ""
            return self.result(
                f"{self.where} closed the connection during the TLS handshake.{hint}",
                f"Check the protocol and port ({_PORT_ADVICE}). If they are right, try again "
                "later.",
                temporary=True,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply(
                error.smtp_code, _reply_text(error.smtp_code, error.smtp_error), doing="start TLS"
            )
        if isinstance(error, ssl.SSLError):
            return self.result(
                f"The TLS handshake with {self.where} failed ({_ssl_reason(error) or error}).",
                "Check the protocol and port, and the CA certificate field if the server's "
                "certificate comes from a private CA.",
                temporary=False,
            )
        return self.unexpected()

    def certificate(self, error: ssl.SSLCertVerificationError) -> Explanation:
        message = error.verify_message or ""
        code = error.verify_code
        if code == 62 or "mismatch" in message.lower():
            return self.result(
                f"The server's certificate is not valid for the name {self.host}.",
                "Enter the server name exactly as it appears in the server's certificate (for "
                "example smtp.example.com rather than an IP address or an internal alias).",
                temporary=False,
            )
        if code == 10 or "expired" in message.lower():
            return self.result(
                "The server's certificate has expired.",
                "Ask the mail server's administrator to renew the certificate.",
                temporary=False,
            )
        if code in {9, 2} or "not yet valid" in message.lower():
            return self.result(
                f"The server's certificate could not be accepted ({message}).",
                "Check that this machine's clock is right, or ask the mail server's administrator.",
                temporary=False,
            )
        return self.result(
            "The server's certificate is not signed by an authority this system trusts: it is "
            f"self-signed or issued by a private CA ({message or 'unknown issuer'}).",
            "If this is your organisation's server, paste the certificate of the CA that issued "
            "it (PEM) into the CA certificate field; for a self-signed certificate, paste the "
            "server's certificate itself.",
            temporary=False,
        )

    def greeting(self) -> Explanation:
        error = self.error
        plain_on_tls = (
            " This is what happens when SMTP is chosen for a port that expects SMTPS (TLS from "
            "the first byte), such as 465."
            if not (self.config and self.config.implicit_tls)
            else ""
        )
        if _is_timeout(error):
            return self.result(
                f"{self.where} accepted the connection but sent no SMTP greeting.{plain_on_tls}",
                "For port 465 choose SMTPS; for SMTP use port 587 or 25. If the settings are "
                "right, the server may be overloaded: try again later.",
                temporary=True,
            )
        if isinstance(error, smtplib.SMTPConnectError) and error.smtp_code < 0:
            return self.result(
                f"{self.where} did not answer with an SMTP greeting: the port belongs to another "
                f"service or expects TLS first.{plain_on_tls}",
                f"Check the protocol and port. {_PORT_ADVICE}",
                temporary=False,
            )
        if _is_connection_lost(error):
            return self.result(
                f"{self.where} closed the connection before greeting.{plain_on_tls}",
                f"Check the protocol and port ({_PORT_ADVICE}). If they are right, the server "
                "may be refusing this machine or be overloaded: try again later.",
                temporary=True,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply(
                error.smtp_code,
                _reply_text(error.smtp_code, error.smtp_error),
                doing="talk to this machine",
            )
        return self.unexpected()

    def login(self) -> Explanation:
        error = self.error
        encrypted = bool(self.config and (self.config.implicit_tls or self.config.starttls))
        if isinstance(error, smtplib.SMTPNotSupportedError) or (
            isinstance(error, smtplib.SMTPException)
            and "no suitable authentication method" in str(error).lower()
        ):
            if isinstance(error, smtplib.SMTPNotSupportedError):
                cause = "The server does not offer login (SMTP AUTH) on this connection."
            else:
                cause = (
                    "The server offers no login method this application supports "
                    "(PLAIN, LOGIN or CRAM-MD5)."
                )
            if not encrypted:
                cause += " Many servers offer login only once the connection is encrypted."
            return self.result(
                cause,
                "Turn on Enable TLS (or choose SMTPS) if the server offers login only over TLS; "
                "if the server needs no login, turn off Use authentication.",
                temporary=False,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            text = _reply_text(code, error.smtp_error)
            lowered = text.lower()
            if code == 538 or "encryption" in lowered or "starttls" in lowered:
                return self.result(
                    f"The server accepts the login only over an encrypted connection (“{text}”).",
                    "Turn on Enable TLS (STARTTLS), or choose SMTPS.",
                    temporary=False,
                )
            if 400 <= code < 500:
                return self.result(
                    f"The server could not check the login for now (“{text}”).",
                    "Try again in a few minutes.",
                    temporary=True,
                )
            return self.result(
                f"The server rejected the username or password (“{text}”).",
                "Check the username and password. Many providers require an app password for "
                "SMTP, or SMTP login to be allowed for the account.",
                temporary=False,
            )
        return self.common("during login") or self.unexpected()

    def _requires_login(self, code: int, text: str) -> Explanation | None:
        lowered = text.lower()
        if "starttls" in lowered or "must issue a starttls" in lowered:
            return self.result(
                f"The server accepts mail only over an encrypted connection (“{text}”).",
                "Turn on Enable TLS (STARTTLS), or choose SMTPS.",
                temporary=False,
            )
        if code == 530 or "authentication required" in lowered or "5.7.0" in lowered:
            using_auth = bool(self.config and self.config.use_auth)
            return self.result(
                f"The server requires a login before it accepts mail (“{text}”).",
                "Turn on Use authentication and enter the username and password of the mail "
                "account."
                if not using_auth
                else "Check that the username belongs to an account allowed to send mail.",
                temporary=False,
            )
        return None

    def sender(self) -> Explanation:
        error = self.error
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            text = _reply_text(code, error.smtp_error)
            address = getattr(error, "sender", "")
            address = address.decode() if isinstance(address, bytes) else str(address)
            if login := self._requires_login(code, text):
                return login
            if 400 <= code < 500:
                return self.result(
                    f"The server did not accept the sender address {address} for now (“{text}”).",
                    "Try again in a few minutes; temporary replies usually clear by themselves.",
                    temporary=True,
                )
            return self.result(
                f"The server refused the sender address {address} (“{text}”).",
                "Use a sender email that this mail account may send as: often the account's own "
                "address, or an address in a domain the provider has verified.",
                temporary=False,
            )
        return self.common("when given the sender") or self.unexpected()

    def recipient(self) -> Explanation:
        error = self.error
        if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
            address, (code, reply) = next(iter(error.recipients.items()))
            text = _reply_text(code, reply)
            if login := self._requires_login(code, text):
                return login
            if 400 <= code < 500:
                return self.result(
                    f"The server did not accept the recipient {address} for now (“{text}”).",
                    "Try again in a few minutes; some servers turn away first attempts on "
                    "purpose (greylisting).",
                    temporary=True,
                )
            if "relay" in text.lower():
                return self.result(
                    f"The server does not pass mail on to {address} for this machine (“{text}”).",
                    "Turn on Use authentication: most servers pass mail on to outside addresses "
                    "only for a logged-in sender.",
                    temporary=False,
                )
            return self.result(
                f"The server refused the recipient {address} (“{text}”).",
                "Check the recipient address for typing mistakes; if it is right, the server's "
                "reply says why it was refused.",
                temporary=False,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply(
                error.smtp_code,
                _reply_text(error.smtp_code, error.smtp_error),
                doing="accept the recipient",
            )
        return self.common("when given the recipient") or self.unexpected()

    def message(self) -> Explanation:
        error = self.error
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            text = _reply_text(code, error.smtp_error)
            if 400 <= code < 500:
                return self.result(
                    f"The server did not accept the message for now (“{text}”).",
                    "Try again in a few minutes; mail waiting in the queue is retried "
                    "automatically.",
                    temporary=True,
                )
            return self.result(
                f"The server refused the message (“{text}”).",
                "The server's reply says why: often the message looked like spam, was too large, "
                "or the sender's domain does not allow this server to send for it (SPF, DKIM).",
                temporary=False,
            )
        return self.common("while the message was sent") or self.unexpected()


def _technical(error: BaseException) -> str:
    """Return the error as the server or the library reported it, for the step's detail."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address}: {_reply_text(code, reply)}"
            for address, (code, reply) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return _reply_text(error.smtp_code, error.smtp_error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"Certificate verification failed: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {_ssl_reason(error) or error}"
    if isinstance(error, socket.gaierror):
        return f"DNS lookup failed: {error.strerror or error}"
    if isinstance(error, TimeoutError):
        return "Timed out."
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return text or type(error).__name__


class _Conversation:
    """One test-mail conversation with its deadline, its socket and the steps recorded so far."""

    def __init__(self, config: ServerConfig, seconds: float) -> None:
        self.config = config
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        if config.implicit_tls:
            middle = [StepName.TLS, StepName.GREETING]
        else:
            # STARTTLS follows the greeting, and the step list follows the conversation.
            middle = [StepName.GREETING, StepName.TLS]
        self.order = [
            StepName.RESOLVE,
            StepName.CONNECT,
            *middle,
            StepName.LOGIN,
            StepName.SENDER,
            StepName.RECIPIENT,
            StepName.MESSAGE,
        ]
        self.steps: dict[StepName, Step] = {}
        self.current = StepName.RESOLVE
        self.raw_socket: socket.socket | None = None
        self.smtp: SMTPOverSocket | None = None
        self.guard: socket.socket | None = None
        self.watchdog: threading.Timer | None = None
        self.expired = threading.Event()
        self.temporary = False
        self.secrets = self._secret_forms(config)

    @staticmethod
    def _secret_forms(config: ServerConfig) -> list[str]:
        # A server could echo what it was sent; a short password is left alone because
        # blanking every occurrence of two letters would garble the text without hiding anything.
        password = config.password
        if len(password) < 4:
            return []
        plain = f"\0{config.username}\0{password}".encode()
        return [
            password,
            base64.b64encode(password.encode()).decode(),
            base64.b64encode(plain).decode(),
        ]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    # Time keeping.

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def timeout(self) -> float:
        """Return the time the next operation may take, or raise TimeoutError when none is left."""
        left = self.remaining()
        if left <= 0:
            raise TimeoutError("The time allowed for the test mail ran out.")
        per_step = self.config.timeout_seconds
        return min(per_step, left) if per_step > 0 else left

    def arm(self, sock: socket.socket | None) -> None:
        if sock is not None:
            sock.settimeout(self.timeout())

    def start_watchdog(self, sock: socket.socket) -> None:
        """Cut the connection at the deadline, however slowly a server trickles its replies.

        Per-operation timeouts bound each wait, but a server that sends one byte at a time could
        stretch a multi-line reply indefinitely; shutting the socket down ends any wait at once.
        """
        self.guard = sock.dup()
        self.watchdog = threading.Timer(max(self.remaining(), 0.0), self._expire)
        self.watchdog.daemon = True
        self.watchdog.start()

    def _expire(self) -> None:
        self.expired.set()
        if self.guard is not None:
            with suppress(OSError):
                self.guard.shutdown(socket.SHUT_RDWR)

    # Recording.

    def begin(self, step: StepName) -> None:
        self.current = step

    def passed(self, step: StepName, detail: str) -> None:
        self.steps[step] = Step(step, step.label, "passed", detail=self.scrub(detail))

    def not_used(self, step: StepName, detail: str) -> None:
        self.steps[step] = Step(step, step.label, "skipped", detail=detail)

    def failed(self, error: Exception) -> None:
        if self.expired.is_set() or (self.remaining() <= 0 and not _is_timeout(error)):
            error = TimeoutError("The time allowed for the test mail ran out.")
        # The conversation knows better than the exception where it stood.
        step = self.current
        explanation = _Explainer(error, step, self.config).explain()
        self.temporary = explanation.temporary
        self.steps[step] = Step(
            step,
            step.label,
            "failed",
            detail=self.scrub(_technical(error)),
            cause=self.scrub(explanation.cause),
            fix=self.scrub(explanation.fix),
        )

    def diagnosis(self) -> Diagnosis:
        steps: list[Step] = []
        failed = False
        for name in self.order:
            step = self.steps.get(name)
            if step is None or failed:
                step = Step(name, name.label, "skipped", detail="Not run: an earlier step failed.")
            failed = failed or step.status == "failed"
            steps.append(step)
        return Diagnosis(
            steps=steps,
            temporary=self.temporary,
            elapsed_seconds=time.monotonic() - self.started,
        )

    # The conversation itself.

    def run(self, *, sender: str, recipient: str, message: bytes) -> Diagnosis:
        try:
            self.converse(sender=sender, recipient=recipient, message=message)
        except Exception as error:
            self.failed(error)
        finally:
            self.finish()
        return self.diagnosis()

    def resolve(self) -> list[IPAddress]:
        # getaddrinfo() takes no timeout, so it runs aside and is abandoned at the deadline.
        outcome: list[list[IPAddress] | Exception] = []

        def work() -> None:
            try:
                outcome.append(resolve(self.config.host, self.config.port))
            except Exception as error:
                outcome.append(error)

        worker = threading.Thread(target=work, name="mail-server-resolve", daemon=True)
        worker.start()
        worker.join(self.timeout())
        if not outcome:
            raise TimeoutError(f"Looking up {self.config.host} took too long.")
        result = outcome[0]
        if isinstance(result, Exception):
            raise result
        return result

    def converse(self, *, sender: str, recipient: str, message: bytes) -> None:
        config = self.config

        self.begin(StepName.RESOLVE)
        addresses = self.resolve()
        self.passed(
            StepName.RESOLVE,
            f"{config.host} is at {', '.join(str(address) for address in addresses)}.",
        )

        self.begin(StepName.CONNECT)
        check_destination(config.host, addresses)
        raw = open_socket(addresses, config.port, self.timeout())
        self.raw_socket = raw
        self.start_watchdog(raw)
        self.passed(StepName.CONNECT, f"Connected to {raw.getpeername()[0]} port {config.port}.")

        sock: socket.socket = raw
        if config.implicit_tls:
            self.begin(StepName.TLS)
            config.check_tls_choice()
            context = ssl_context(config.ca_certificate)
            self.arm(raw)
            tls_socket = context.wrap_socket(raw, server_hostname=config.host)
            sock = tls_socket
            self.passed(StepName.TLS, _tls_detail(tls_socket, config))
        elif not config.use_tls:
            self.not_used(
                StepName.TLS, "Not used: Enable TLS is off, so the connection is not encrypted."
            )

        smtp = SMTPOverSocket(
            sock,
            host=config.host,
            port=config.port,
            local_hostname=DNS_NAME.get_fqdn(),
            timeout=self.timeout(),
        )
        self.smtp = smtp

        self.begin(StepName.GREETING)
        self.arm(smtp.sock)
        _code, banner = smtp.greet()
        self.arm(smtp.sock)
        code, reply = smtp.ehlo()
        if code != 250:
            self.arm(smtp.sock)
            code, reply = smtp.helo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, reply)
        self.passed(StepName.GREETING, _reply_text(220, banner))

        if config.starttls:
            self.begin(StepName.TLS)
            context = ssl_context(config.ca_certificate)
            self.arm(smtp.sock)
            smtp.starttls(context=context)
            self.arm(smtp.sock)
            code, reply = smtp.ehlo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, reply)
            upgraded = smtp.sock
            self.passed(
                StepName.TLS,
                _tls_detail(upgraded, config)
                if isinstance(upgraded, ssl.SSLSocket)
                else "The connection is encrypted.",
            )

        if config.use_auth:
            self.begin(StepName.LOGIN)
            self.arm(smtp.sock)
            smtp.login(config.username, config.password)
            self.passed(StepName.LOGIN, f"Logged in as {config.username}.")
        else:
            self.not_used(StepName.LOGIN, "Not used: Use authentication is off.")

        self.begin(StepName.SENDER)
        self.arm(smtp.sock)
        code, reply = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        self.passed(StepName.SENDER, f"{sender}: {_reply_text(code, reply)}")

        self.begin(StepName.RECIPIENT)
        self.arm(smtp.sock)
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        self.passed(StepName.RECIPIENT, f"{recipient}: {_reply_text(code, reply)}")

        self.begin(StepName.MESSAGE)
        self.arm(smtp.sock)
        code, reply = smtp.data(_with_crlf(message))
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        self.passed(StepName.MESSAGE, _reply_text(code, reply))

    def finish(self) -> None:
        """Say goodbye if there is time left, and close everything whatever happened."""
        if self.watchdog is not None:
            self.watchdog.cancel()
        smtp = self.smtp
        if smtp is not None:
            left = self.remaining()
            if smtp.sock is not None and left > 0 and not self.expired.is_set():
                try:
                    smtp.sock.settimeout(min(left, QUIT_TIMEOUT_SECONDS))
                    smtp.quit()
                except (OSError, smtplib.SMTPException, ValueError):
                    pass
            smtp.close()
        if self.raw_socket is not None:
            self.raw_socket.close()
        if self.guard is not None:
            self.guard.close()


def _with_crlf(message: bytes) -> bytes:
    """Return the message with CRLF line endings, as SMTP requires.

    smtplib sends bytes as they are, and a message flattened with the default email policy ends
    its lines with a bare LF, which servers reject (as one overlong line, or as a smuggling risk).
    """
    return _BARE_LF.sub(b"\r\n", message)


def _tls_detail(sock: ssl.SSLSocket, config: ServerConfig) -> str:
    version = sock.version() or "TLS"
    cipher = sock.cipher()
    suite = f", {cipher[0]}" if cipher else ""
    return f"{version}{suite}; the certificate is valid for {config.host}."


def diagnose(
    config: ServerConfig,
    *,
    sender: str,
    recipient: str,
    message: bytes,
    deadline_seconds: float | None = None,
) -> Diagnosis:
    """Send a test mail step by step and return what happened at each step.

    The whole conversation, from DNS lookup to the server's last reply, ends within
    deadline_seconds (TEST_MAIL_TIMEOUT_SECONDS when not given, never more than 15 seconds).
    With Enable TLS, nothing but EHLO and STARTTLS is said before the connection is encrypted.
    """
    if deadline_seconds is None:
        deadline_seconds = float(settings.TEST_MAIL_TIMEOUT_SECONDS)
    seconds = max(min(float(deadline_seconds), MAX_DEADLINE_SECONDS), 0.1)
    conversation = _Conversation(config, seconds)
    diagnosis = conversation.run(sender=sender, recipient=recipient, message=message)
    failure = diagnosis.failure
    logger.info(
        "Test mail through %s port %s: %s after %.1f s",
        config.host,
        config.port,
        f"failed at {failure.name}" if failure else "accepted",
        diagnosis.elapsed_seconds,
    )
    return diagnosis
