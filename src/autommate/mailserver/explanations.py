"""The explainer: what a failed step of an SMTP conversation means, and what to change.

A failed test mail is only useful if the administrator can tell what to change, so a failure
carries a cause and a fix in plain words. The same explanations serve the delivery queue's mail
log, together with whether a failure is worth retrying.
"""

from __future__ import annotations

import errno
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils import translation

from autommate.delivery.failures import SendFailure
from autommate.sentences import Sentence, as_data, joined
from autommate.sentences import sentence as _

from .connection import (
    ACCESS_TOKEN,
    AddressNeedsSMTPUTF8,
    ConflictingTLSSettings,
    InvalidCACertificate,
    LoginWithoutTLS,
    MailServerNotConfigured,
    NotAMailServer,
    ServerConfig,
    load_saved_config,
)
from .destinations import DestinationRefused
from .models import UnusableSenderEmail
from .secrets import UndecryptableSecret
from .steps import MailStepError, StepName, step_of
from .tokens import (
    InvalidCredential,
    InvalidTokenURL,
    NotAToken,
    TokenError,
    TokenRedirected,
    TokenRefused,
    XOAuth2NotOffered,
    token_url_of,
)

# Server replies are quoted in causes; a misbehaving server must not fill the page.
MAX_REPLY_CHARS = 200
# A token endpoint's error description is quoted up to this length (Entra's carry trace IDs).
MAX_DESCRIPTION_CHARS = 400


def microsoft_smtp_auth_fix(user: str) -> str:
    """Return how to allow SMTP AUTH for a mailbox of Exchange Online, in the active language."""
    return _(
        "In Exchange Online, allow SMTP AUTH for the mailbox (Set-CASMailbox "
        "-Identity %(user)s -SmtpClientAuthenticationDisabled $false) and check that "
        "it is not disabled for the whole organisation (Get-TransportConfig | "
        "Format-List SmtpClientAuthenticationDisabled)."
    ) % {"user": user}


# Greylisting servers (postgrey's default) let a retry through after 300 seconds; the next
# attempt comes just after that (delivery spreads it over the following seconds), not at the
# next step of the backoff.
GREYLIST_DELAY_SECONDS = 300
_ENHANCED_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

# When a timeout or a lost connection happened, and what a server refused to do: codes, each
# with its own whole sentences for translators.
CONNECTING = "connecting"
LOGIN = "login"
SENDER = "sender"
RECIPIENT = "recipient"
MESSAGE = "message"
START_TLS = "start TLS"
TALK = "talk"
ACCEPT_RECIPIENT = "accept the recipient"


@dataclass(frozen=True)
class Explanation:
    step: StepName
    cause: str
    fix: str
    temporary: bool
    # How long to wait before trying again, when the server's reply says (greylisting).
    retry_after_seconds: float | None = None

    def words(self) -> dict[str, Any]:
        """Return the step, cause and fix as the mail log stores them, to say them again later
        in another language (autommate.sentences)."""
        return {
            "step": self.step.msgid,
            "cause": as_data(self.cause),
            "fix": as_data(self.fix),
        }


def explain(error: BaseException, *, config: ServerConfig | None = None) -> Explanation:
    """Return the step a failure happened at, its cause and fix, and whether it is temporary.

    The error is a MailStepError, which names its step, or any other error, whose step is then
    inferred from its type. Temporary failures (refused or reset connections, timeouts,
    interrupted TLS handshakes, DNS hiccups, 4xx replies) are worth retrying; permanent ones
    (5xx replies, rejected logins, certificate problems, no STARTTLS, refused destinations) need
    someone to change something.
    """
    step = step_of(error)
    if isinstance(error, MailStepError):
        error = error.error
    return _Explainer(error, step or _infer_step(error), config).explain()


def mail_log_failure(error: BaseException) -> SendFailure:
    """Return the mail log's words for a failed delivery, and whether a retry may succeed.

    Registered with delivery, which knows nothing of SMTP, by this app's `ready()`.
    """
    # The mail log stores its text in English, the source language, and beside it the msgids
    # and values of its sentences, to say them again in the reader's language.
    with translation.override("en"):
        return _mail_log_failure(error)


def _mail_log_failure(error: BaseException) -> SendFailure:
    if isinstance(error, MailServerNotConfigured):
        # Retried: the administrator may save the settings any moment.
        cause = _("The mail server is not configured.")
        return SendFailure(text=cause, temporary=True, words={"cause": as_data(cause)})
    explanation = explain(error, config=_saved_oauth_config())
    label = explanation.step.label
    text = " ".join([label + ":", explanation.cause, explanation.fix]).strip()
    inner = error.error if isinstance(error, MailStepError) else error
    throttled = is_throttled(error)
    return SendFailure(
        text=text,
        words=explanation.words(),
        temporary=explanation.temporary,
        throttled=throttled,
        step=label,
        reply=technical_detail(inner),
        retry_after_seconds=explanation.retry_after_seconds,
        outage=explanation.temporary and not throttled and is_outage(explanation.step, inner),
    )


# The steps before any mail is named: a temporary failure there is the server's, not a mail's.
_SERVER_STEPS = frozenset(
    {
        StepName.RESOLVE,
        StepName.CONNECT,
        StepName.TLS,
        StepName.GREETING,
        StepName.TOKEN,
        StepName.LOGIN,
    }
)


def is_outage(step: StepName, error: BaseException) -> bool:
    """Say whether a temporary failure is the mail server's rather than one mail's.

    So it is before any mail is named (the server unreachable, silent, refusing the greeting or
    the login for now), for a connection lost or timed out at any step, and for `421` (the
    server closing the channel). A temporary refusal of a sender or recipient, greylisting
    included, is the mail's own and keeps its backoff.
    """
    if step in _SERVER_STEPS:
        return True
    if is_timeout(error) or _is_connection_lost(error):
        return True
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code == 421


# How providers say "too many messages for now": Exchange Online's 4.3.2 and "throttled", Gmail's
# 4.7.28 and "rate limit", and the common wording of others.
_THROTTLED = re.compile(
    rb"4\.3\.2|4\.7\.28|throttl|rate limit|too many (messages|mails|emails|connections)",
    re.IGNORECASE,
)


def is_throttled(error: BaseException) -> bool:
    """Say whether the server answered with a temporary refusal that asks to send less."""
    if isinstance(error, MailStepError):
        error = error.error
    if not isinstance(error, smtplib.SMTPResponseException):
        return False
    reply = (
        error.smtp_error if isinstance(error.smtp_error, bytes) else str(error.smtp_error).encode()
    )
    return 400 <= error.smtp_code < 500 and bool(_THROTTLED.search(reply))


def _saved_oauth_config() -> ServerConfig | None:
    """Return the saved settings when they log in with a token, so that the mail log can name
    the provider's causes (an OAuth error reads differently from Microsoft and from Google)."""
    try:
        config = load_saved_config()
    except Exception:  # Explaining a failure must not fail: without settings, speak generally.
        return None
    return config if config.uses_oauth else None


def _infer_step(error: BaseException) -> StepName:
    if isinstance(error, socket.gaierror | MailServerNotConfigured):
        return StepName.RESOLVE
    if isinstance(error, ssl.SSLError | ConflictingTLSSettings | InvalidCACertificate):
        return StepName.TLS
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return StepName.TLS if "STARTTLS" in str(error).upper() else StepName.LOGIN
    if isinstance(error, TokenError):
        return StepName.TOKEN
    if isinstance(error, smtplib.SMTPAuthenticationError | UndecryptableSecret | LoginWithoutTLS):
        return StepName.LOGIN
    if isinstance(error, smtplib.SMTPSenderRefused | UnusableSenderEmail):
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


def reply_text(code: int, reply: bytes | str) -> str:
    """Return a server's reply for quoting: code and text on one line, cut to a readable length.

    A line without an SMTP reply code is not quoted at all: whatever sent it is not a mail server,
    and repeating it would show what else listens on the network.
    """
    if not 200 <= code <= 599:
        return _("(an answer that is not an SMTP reply)")
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = " ".join(text.split())
    if len(text) > MAX_REPLY_CHARS:
        text = text[: MAX_REPLY_CHARS - 1] + "…"
    return " ".join((str(code), text)).strip()


def _ssl_reason(error: ssl.SSLError) -> str:
    # OpenSSL's short reason ("WRONG_VERSION_NUMBER"); errors raised by Python itself have none.
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else ""


def is_timeout(error: BaseException) -> bool:
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


def speaks_no_tls(error: BaseException) -> bool:
    """Return whether a failed TLS handshake met something other than a TLS server.

    Silence until the timeout, a connection closed or reset, or plain text where a handshake
    was expected: for SMTPS, all of them mean that no mail server answered on the port.
    """
    if is_timeout(error) or _is_connection_lost(error):
        return True
    if isinstance(error, ssl.SSLError):
        return _ssl_reason(error).upper() in _PLAIN_TEXT_REASONS or (
            "WRONG VERSION NUMBER" in str(error).upper()
        )
    return False


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


def _port_advice() -> str:
    return _(
        "Usually SMTP with Enable TLS (STARTTLS) is on port 587, SMTPS on port 465, "
        "and plain SMTP between servers on port 25."
    )


class _Explainer:
    def __init__(self, error: BaseException, step: StepName, config: ServerConfig | None) -> None:
        self.error = error
        self.step = step
        self.config = config

    @property
    def host(self) -> str:
        # Translators: stands for the server's name in a sentence when none is saved.
        return self.config.host if self.config else _("the mail server")

    @property
    def where(self) -> str:
        if self.config:
            # Translators: the mail server as the subject of a sentence: its name and port.
            return _("%(host)s (port %(port)s)") % {
                "host": self.config.host,
                "port": self.config.port,
            }
        # Translators: the subject of a sentence, where the server's name and port would be.
        return _("The mail server")

    def result(
        self, cause: str, fix: str, *, temporary: bool, retry_after_seconds: float | None = None
    ) -> Explanation:
        return Explanation(
            step=self.step,
            cause=cause,
            fix=fix,
            temporary=temporary,
            retry_after_seconds=retry_after_seconds,
        )

    def explain(self) -> Explanation:
        error = self.error
        if isinstance(error, MailServerNotConfigured):
            return self.result(
                _("No mail server is configured yet."),
                _("Enter the server name and sender email on the mail settings page and save."),
                temporary=False,
            )
        if isinstance(error, DestinationRefused) and self.step != StepName.TOKEN:
            return self.result(
                _message(error),
                _("Use a mail server at an allowed address. %(how_to_allow)s")
                % {"how_to_allow": error.how_to_allow},
                temporary=False,
            )
        if isinstance(error, NotAMailServer):
            return self.not_a_mail_server()
        if isinstance(error, UndecryptableSecret):
            return self.undecryptable(error)
        if isinstance(error, UnusableSenderEmail):
            return self.result(
                _message(error),
                _("Enter the sender email again on the mail settings page, and save."),
                temporary=False,
            )
        if isinstance(error, LoginWithoutTLS):
            return self.login_without_tls(error)
        if isinstance(error, AddressNeedsSMTPUTF8):
            return self.needs_smtputf8(error)
        if self.step == StepName.TOKEN:
            return self.token()
        if isinstance(error, ConflictingTLSSettings):
            return self.result(
                _(
                    "SMTPS and Enable TLS (STARTTLS) were both chosen. SMTPS encrypts the "
                    "connection from the first byte, while STARTTLS upgrades a plain SMTP "
                    "connection; a port uses one or the other."
                ),
                _(
                    "For port 465 choose SMTPS and turn off Enable TLS; for port 587 "
                    "choose SMTP and keep Enable TLS on."
                ),
                temporary=False,
            )
        if isinstance(error, InvalidCACertificate):
            return self.result(
                _message(error),
                _(
                    "Paste the CA certificate in PEM format, from -----BEGIN "
                    "CERTIFICATE----- to -----END CERTIFICATE-----, or leave the field "
                    "empty for a server whose certificate is publicly trusted."
                ),
                temporary=False,
            )
        method = {
            StepName.RESOLVE: self.resolve,
            StepName.CONNECT: self.connect,
            StepName.TLS: self.tls,
            StepName.GREETING: self.greeting,
            StepName.TOKEN: self.token,
            StepName.LOGIN: self.login,
            StepName.SENDER: self.sender,
            StepName.RECIPIENT: self.recipient,
            StepName.MESSAGE: self.message,
        }[self.step]
        return method()

    def undecryptable(self, error: UndecryptableSecret) -> Explanation:
        sentences = {
            "password": (
                _(
                    "The saved password cannot be read with the current encryption keys: "
                    "it was saved under a key that AUTOMMATE_ENCRYPTION_KEYS no longer "
                    "holds."
                ),
                _("Enter the password again and save the mail settings."),
            ),
            "client_secret": (
                _(
                    "The saved client secret cannot be read with the current encryption "
                    "keys: it was saved under a key that AUTOMMATE_ENCRYPTION_KEYS no "
                    "longer holds."
                ),
                _("Enter the client secret again and save the mail settings."),
            ),
            "client_certificate": (
                _(
                    "The saved client certificate cannot be read with the current "
                    "encryption keys: it was saved under a key that "
                    "AUTOMMATE_ENCRYPTION_KEYS no longer holds."
                ),
                _("Enter the client certificate again and save the mail settings."),
            ),
            "service_account_key": (
                _(
                    "The saved service account key cannot be read with the current "
                    "encryption keys: it was saved under a key that "
                    "AUTOMMATE_ENCRYPTION_KEYS no longer holds."
                ),
                _("Enter the service account key again and save the mail settings."),
            ),
        }
        cause, fix = sentences.get(
            error.name,
            (
                _(
                    "A saved secret of the mail settings cannot be read with the current "
                    "encryption keys: it was saved under a key that "
                    "AUTOMMATE_ENCRYPTION_KEYS no longer holds."
                ),
                _("Enter the mail server's secrets again and save the mail settings."),
            ),
        )
        return self.result(cause, fix, temporary=False)

    # Generic answers shared by several steps.

    def timeout(self, moment: str) -> Explanation:
        where = self.where
        cause = {
            LOGIN: _("%(where)s did not answer in time during login.") % {"where": where},
            SENDER: _("%(where)s did not answer in time when given the sender.") % {"where": where},
            RECIPIENT: _("%(where)s did not answer in time when given the recipient.")
            % {"where": where},
            MESSAGE: _("%(where)s did not answer in time while the message was sent.")
            % {"where": where},
        }[moment]
        return self.result(
            cause,
            _(
                "Try again later. If it keeps happening, check that the server name and "
                "port are right and that no firewall holds the connection up."
            ),
            temporary=True,
        )

    def connection_lost(self, moment: str) -> Explanation:
        where = self.where
        cause = {
            CONNECTING: _("%(where)s closed the connection unexpectedly while connecting.")
            % {"where": where},
            LOGIN: _("%(where)s closed the connection unexpectedly during login.")
            % {"where": where},
            SENDER: _("%(where)s closed the connection unexpectedly when given the sender.")
            % {"where": where},
            RECIPIENT: _("%(where)s closed the connection unexpectedly when given the recipient.")
            % {"where": where},
            MESSAGE: _("%(where)s closed the connection unexpectedly while the message was sent.")
            % {"where": where},
        }[moment]
        return self.result(
            cause,
            _(
                "Try again later. If it keeps happening, the server may be refusing this "
                "machine: ask the mail server's administrator."
            ),
            temporary=True,
        )

    def reply(self, code: int, text: str, *, doing: str) -> Explanation:
        if 400 <= code < 500:
            cause = {
                START_TLS: _(
                    "The server could not start TLS for now and asked to try again later "
                    "(“%(reply)s”)."
                )
                % {"reply": text},
                TALK: _(
                    "The server could not talk to this machine for now and asked to try "
                    "again later (“%(reply)s”)."
                )
                % {"reply": text},
                ACCEPT_RECIPIENT: _(
                    "The server could not accept the recipient for now and asked to try "
                    "again later (“%(reply)s”)."
                )
                % {"reply": text},
            }[doing]
            return self.result(
                cause,
                _("Try again in a few minutes; temporary replies usually clear by themselves."),
                temporary=True,
            )
        refused = {
            START_TLS: _("The server refused to start TLS (“%(reply)s”).") % {"reply": text},
            TALK: _("The server refused to talk to this machine (“%(reply)s”).") % {"reply": text},
            ACCEPT_RECIPIENT: _("The server refused to accept the recipient (“%(reply)s”).")
            % {"reply": text},
        }[doing]
        return self.result(
            refused,
            _(
                "The server's reply says why; if it is unclear, ask the mail server's "
                "administrator."
            ),
            temporary=False,
        )

    def unexpected(self) -> Explanation:
        kind, error = type(self.error).__name__, self.error
        return self.result(
            _("An unexpected error occurred (%(type)s: %(error)s).")
            % {"type": kind, "error": error},
            _("Try again; if it keeps happening, look at the application's log."),
            temporary=False,
        )

    def common(self, moment: str) -> Explanation | None:
        if is_timeout(self.error):
            return self.timeout(moment)
        if _is_connection_lost(self.error):
            return self.connection_lost(moment)
        return None

    # One method per step.

    def resolve(self) -> Explanation:
        error = self.error
        if isinstance(error, socket.gaierror):
            not_found = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
            if error.errno in not_found:
                return self.result(
                    _("The server name %(host)s could not be found: DNS knows no such name.")
                    % {"host": self.host},
                    _(
                        "Check the spelling of the server name (for example "
                        "smtp.example.com), or enter the server's IP address."
                    ),
                    temporary=False,
                )
            if error.errno == socket.EAI_FAIL:
                return self.result(
                    _("Looking up %(host)s failed: the DNS servers gave a permanent error.")
                    % {"host": self.host},
                    _("Check the server name and this machine's DNS settings."),
                    temporary=False,
                )
            return self.result(
                _("Looking up %(host)s failed for now (%(error)s).")
                % {"host": self.host, "error": error.strerror or error},
                _(
                    "Try again in a moment; if it keeps happening, check this machine's "
                    "DNS settings."
                ),
                temporary=True,
            )
        if is_timeout(error):
            return self.result(
                _("Looking up %(host)s in DNS took too long.") % {"host": self.host},
                _(
                    "Try again in a moment; if it keeps happening, check this machine's "
                    "DNS settings."
                ),
                temporary=True,
            )
        return self.unexpected()

    def connect(self) -> Explanation:
        error = self.error
        if isinstance(error, ConnectionRefusedError | ConnectionResetError) or is_timeout(error):
            return self.not_a_mail_server()
        if isinstance(error, OSError) and error.errno in {
            errno.ENETUNREACH,
            errno.EHOSTUNREACH,
            errno.EADDRNOTAVAIL,
        }:
            return self.result(
                _("There is no network route from this machine to %(host)s.") % {"host": self.host},
                _("Check the server name, and this machine's network and firewall settings."),
                temporary=True,
            )
        if _is_connection_lost(error):
            return self.connection_lost(CONNECTING)
        if isinstance(error, OSError):
            return self.result(
                _("Could not connect to %(where)s (%(error)s).")
                % {"where": self.where, "error": error.strerror or error},
                _("Check the server name and port; if they are right, try again later."),
                temporary=True,
            )
        return self.unexpected()

    def tls(self) -> Explanation:
        error = self.error
        implicit = self.config.implicit_tls if self.config else False
        if isinstance(error, smtplib.SMTPNotSupportedError):
            return self.result(
                _(
                    "%(where)s does not offer STARTTLS, so the connection could not be "
                    "encrypted. Nothing more was sent: no login and no message."
                )
                % {"where": self.where},
                _(
                    "If the server uses TLS from the first byte (usually on port 465), "
                    "choose SMTPS. If it really offers no encryption, turn off Enable "
                    "TLS, but only on a network you trust, since the password and mail "
                    "would then travel unencrypted."
                ),
                temporary=False,
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            return self.certificate(error)
        if isinstance(error, ssl.SSLError):
            reason = _ssl_reason(error).upper()
            text = str(error).upper()
            if reason in _PLAIN_TEXT_REASONS or "WRONG VERSION NUMBER" in text:
                return self.result(
                    _(
                        "%(where)s answered in plain text instead of TLS: this port does "
                        "not use SMTPS (TLS from the first byte)."
                    )
                    % {"where": self.where},
                    _(
                        "For this port choose SMTP, with Enable TLS for STARTTLS (usually "
                        "port 587), or enter the server's SMTPS port (usually 465)."
                    ),
                    temporary=False,
                )
            if reason in _OLD_PROTOCOL_REASONS:
                return self.result(
                    _("%(where)s offers only outdated TLS versions (older than TLS 1.2).")
                    % {"where": self.where},
                    _("Ask the mail server's administrator to enable TLS 1.2 or newer."),
                    temporary=False,
                )
        if is_timeout(error):
            where = self.where
            return self.result(
                _(
                    "The TLS handshake with %(where)s did not finish in time. A port that "
                    "expects plain SMTP may be waiting for a command instead."
                )
                % {"where": where}
                if implicit
                else _("The TLS handshake with %(where)s did not finish in time.")
                % {"where": where},
                _("Check the protocol and port (%(advice)s). If they are right, try again later.")
                % {"advice": _port_advice()},
                temporary=True,
            )
        if _is_connection_lost(error):
            where = self.where
            return self.result(
                _(
                    "%(where)s closed the connection during the TLS handshake. This often "
                    "means that the port does not use SMTPS."
                )
                % {"where": where}
                if implicit
                else _("%(where)s closed the connection during the TLS handshake.")
                % {"where": where},
                _("Check the protocol and port (%(advice)s). If they are right, try again later.")
                % {"advice": _port_advice()},
                temporary=True,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply(
                error.smtp_code, reply_text(error.smtp_code, error.smtp_error), doing=START_TLS
            )
        if isinstance(error, ssl.SSLError):
            return self.result(
                _("The TLS handshake with %(where)s failed (%(error)s).")
                % {"where": self.where, "error": _ssl_reason(error) or error},
                _(
                    "Check the protocol and port, and the CA certificate field if the "
                    "server's certificate comes from a private CA."
                ),
                temporary=False,
            )
        return self.unexpected()

    def certificate(self, error: ssl.SSLCertVerificationError) -> Explanation:
        message = error.verify_message or ""
        code = error.verify_code
        if code == 62 or "mismatch" in message.lower():
            return self.result(
                _("The server's certificate is not valid for the name %(host)s.")
                % {"host": self.host},
                _(
                    "Enter the server name exactly as it appears in the server's "
                    "certificate (for example smtp.example.com rather than an IP address "
                    "or an internal alias)."
                ),
                temporary=False,
            )
        if code == 10 or "expired" in message.lower():
            return self.result(
                _("The server's certificate has expired."),
                _("Ask the mail server's administrator to renew the certificate."),
                temporary=False,
            )
        if code in {9, 2} or "not yet valid" in message.lower():
            return self.result(
                _("The server's certificate could not be accepted (%(message)s).")
                % {"message": message},
                _(
                    "Check that this machine's clock is right, or ask the mail server's "
                    "administrator."
                ),
                temporary=False,
            )
        return self.result(
            _(
                "The server's certificate is not signed by an authority this system "
                "trusts: it is self-signed or issued by a private CA (%(message)s)."
            )
            % {"message": message}
            if message
            else _(
                "The server's certificate is not signed by an authority this system "
                "trusts: it is self-signed or issued by a private CA (unknown issuer)."
            ),
            _(
                "If this is your organisation's server, paste the certificate of the CA "
                "that issued it (PEM) into the CA certificate field; for a self-signed "
                "certificate, paste the server's certificate itself."
            ),
            temporary=False,
        )

    def greeting(self) -> Explanation:
        # The server has greeted in SMTP by now (anything else fails to connect); what is left is
        # a greeting that turns this machine away (421, 554), or EHLO going wrong.
        error = self.error
        if is_timeout(error):
            return self.result(
                _("%(where)s greeted but did not answer EHLO in time.") % {"where": self.where},
                _(
                    "Try again later. If it keeps happening, the server may be overloaded "
                    "or refusing this machine: ask the mail server's administrator."
                ),
                temporary=True,
            )
        if _is_connection_lost(error):
            return self.result(
                _("%(where)s closed the connection after its greeting.") % {"where": self.where},
                _(
                    "Try again later. If it keeps happening, the server may be refusing "
                    "this machine or be overloaded: ask the mail server's administrator."
                ),
                temporary=True,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply(
                error.smtp_code,
                reply_text(error.smtp_code, error.smtp_error),
                doing=TALK,
            )
        return self.unexpected()

    def not_a_mail_server(self) -> Explanation:
        """One answer for a closed port, a silent one and one where another service listens.

        Telling them apart would turn the test mail into a port scanner; the fix names the
        likely mistakes from the settings alone, never from what the port did.
        """
        config = self.config
        fix = _(
            "Check the server name and port. %(advice)s If they are right, check that "
            "the mail server is running and that no firewall holds the connection up, "
            "then try again later."
        ) % {"advice": _port_advice()}
        if config and not config.implicit_tls and config.port == 465:
            fix = joined(
                _("Port 465 usually expects SMTPS (TLS from the first byte): choose SMTPS."), fix
            )
        elif config and config.implicit_tls and config.port in {25, 587}:
            port = config.port
            fix = joined(
                _("Port %(port)s usually expects SMTP, with Enable TLS for STARTTLS: choose SMTP.")
                % {"port": port},
                fix,
            )
        if config:
            host, port = config.host, config.port
            cause = _(
                "No mail server answered at %(host)s port %(port)s: the port is "
                "closed, another service listens on it, or nothing answered in time."
            ) % {"host": host, "port": port}
        else:
            cause = _(
                "No mail server answered at the configured server and port: the port "
                "is closed, another service listens on it, or nothing answered in "
                "time."
            )
        return self.result(cause, fix, temporary=True)

    # Get access token: the token endpoint, its answers, and the provider's words for them.

    @property
    def provider(self) -> str:
        """Return "microsoft", "google" or "" (another provider), to name what admins must do."""
        config = self.config
        if config is None:
            return ""
        if config.auth_method == "google-service-account":
            return "google"
        url = config.token_url.lower()
        host = config.host.lower()
        if (
            "microsoftonline" in url
            or url.endswith("/oauth2/v2.0/token")
            or host.endswith(("office365.com", "outlook.com"))
        ):
            return "microsoft"
        return ""

    @property
    def token_host(self) -> str:
        if self.config is None:
            # Translators: stands for the token URL's server name in a sentence.
            return _("the token URL")
        try:
            url = token_url_of(self.config)
        except TokenError:
            # Translators: stands for the token URL's server name in a sentence.
            return _("the token URL")
        return urlsplit(url).hostname or url

    def token(self) -> Explanation:
        error = self.error
        host = self.token_host
        if isinstance(error, InvalidTokenURL):
            return self.result(
                _message(error),
                _(
                    "Enter the provider's token URL, starting with https:// (Microsoft "
                    "365: https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token "
                    "with your tenant ID or domain)."
                ),
                temporary=False,
            )
        if isinstance(error, InvalidCredential):
            return self.result(
                _message(error),
                _("Paste the service account's JSON key as Google created it.")
                if self.provider == "google"
                else _(
                    "Paste the PEM private key followed by its certificate, or use a "
                    "client secret instead."
                ),
                temporary=False,
            )
        if isinstance(error, DestinationRefused):
            return self.result(
                _message(error),
                _("Check the token URL. %(how_to_allow)s") % {"how_to_allow": error.how_to_allow},
                temporary=False,
            )
        if isinstance(error, socket.gaierror):
            return self.result(
                _("The server name %(host)s of the token URL could not be found for now.")
                % {"host": host}
                if error.errno == socket.EAI_AGAIN
                else _(
                    "The server name %(host)s of the token URL could not be found: DNS "
                    "knows no such name."
                )
                % {"host": host},
                _("Check the spelling of the token URL."),
                temporary=error.errno == socket.EAI_AGAIN,
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            message = error.verify_message or ""
            if error.verify_code == 62 or "mismatch" in message.lower():
                cause = _("The certificate of %(host)s is not valid for that name.") % {
                    "host": host
                }
            elif message:
                cause = _(
                    "The certificate of %(host)s is not signed by an authority this "
                    "system trusts (%(message)s)."
                ) % {"host": host, "message": message}
            else:
                cause = _(
                    "The certificate of %(host)s is not signed by an authority this "
                    "system trusts (unknown issuer)."
                ) % {"host": host}
            return self.result(
                cause,
                _(
                    "Check the host name in the token URL. If the token endpoint uses a "
                    "private CA, paste that CA's certificate into the CA certificate "
                    "field: it is trusted for the token URL too."
                ),
                temporary=False,
            )
        if isinstance(error, TokenRedirected):
            return self.result(
                _(
                    "The token URL's server %(host)s answered with a redirect to "
                    "%(location)s; access tokens are fetched only from the URL as "
                    "entered."
                )
                % {"host": host, "location": location}
                if (location := error.location)
                else _(
                    "The token URL's server %(host)s answered with a redirect to another "
                    "address; access tokens are fetched only from the URL as entered."
                )
                % {"host": host},
                _("Enter the token endpoint's own URL, not a page that forwards to it."),
                temporary=False,
            )
        if isinstance(error, NotAToken):
            status, content_type, excerpt = error.status, error.content_type, error.excerpt
            if error.too_large:
                cause = _(
                    "The token URL's server %(host)s answered with more than 64 KB, "
                    "which is not a token."
                ) % {"host": host}
            elif content_type and excerpt:
                cause = _(
                    "The token URL's server %(host)s answered HTTP %(status)s with "
                    "%(content_type)s, not an access token (“%(excerpt)s”)."
                ) % {
                    "host": host,
                    "status": status,
                    "content_type": content_type,
                    "excerpt": excerpt,
                }
            elif content_type:
                cause = _(
                    "The token URL's server %(host)s answered HTTP %(status)s with "
                    "%(content_type)s, not an access token."
                ) % {"host": host, "status": status, "content_type": content_type}
            elif excerpt:
                cause = _(
                    "The token URL's server %(host)s answered HTTP %(status)s with an "
                    "unknown type, not an access token (“%(excerpt)s”)."
                ) % {"host": host, "status": status, "excerpt": excerpt}
            else:
                cause = _(
                    "The token URL's server %(host)s answered HTTP %(status)s with an "
                    "unknown type, not an access token."
                ) % {"host": host, "status": status}
            return self.result(
                cause,
                _(
                    "Check the token URL: it must be the provider's OAuth 2.0 token "
                    "endpoint, ending in /oauth2/v2.0/token."
                )
                if self.provider == "microsoft"
                else _("Check the token URL: it must be the provider's OAuth 2.0 token endpoint."),
                temporary=error.status >= 500,
            )
        if isinstance(error, TokenRefused):
            return self.token_refused(error)
        if isinstance(error, ConnectionRefusedError):
            return self.result(
                _("The token URL's server %(host)s refused the connection.") % {"host": host},
                _("Check the token URL, and that a firewall allows outgoing connections to it."),
                temporary=True,
            )
        if is_timeout(error):
            return self.result(
                _("The token URL's server %(host)s did not answer in time.") % {"host": host},
                _(
                    "Try again later. If it keeps happening, check the token URL and that "
                    "a firewall allows outgoing https connections to it."
                ),
                temporary=True,
            )
        if isinstance(error, ssl.SSLError):
            return self.result(
                _("The TLS handshake with %(host)s failed (%(error)s).")
                % {"host": host, "error": _ssl_reason(error) or error},
                _("Check that the token URL is an https address of the provider."),
                temporary=False,
            )
        if isinstance(error, OSError):
            return self.result(
                _("Could not reach %(host)s (%(error)s).")
                % {"host": host, "error": error.strerror or error},
                _("Check the token URL and this machine's network; then try again."),
                temporary=True,
            )
        return self.unexpected()

    def token_refused(self, error: TokenRefused) -> Explanation:
        said = error.error
        if error.description:
            description = error.description
            if len(description) > MAX_DESCRIPTION_CHARS:
                description = description[: MAX_DESCRIPTION_CHARS - 1] + "…"
            said = f"{said}: {description}"
        codes = set(error.codes)
        lowered = error.description.lower()

        def refused(cause: str, fix: str, *, temporary: bool = False) -> Explanation:
            return self.result(
                # Translators: a cause, then the token endpoint's own error quoted as it answered.
                _("%(cause)s (“%(said)s”)") % {"cause": cause, "said": said},
                fix,
                temporary=temporary,
            )

        if error.status >= 500 or error.error == "temporarily_unavailable":
            return refused(
                _("The token endpoint could not issue a token for now."),
                _("Try again in a few minutes."),
                temporary=True,
            )
        if codes & {"AADSTS90002", "AADSTS900023", "AADSTS90013"}:
            return refused(
                _("Microsoft Entra does not know the tenant in the token URL."),
                _(
                    "Replace the tenant in the token URL with your Directory (tenant) ID "
                    "or your organisation's primary domain."
                ),
            )
        if codes & {"AADSTS700016", "AADSTS90014"} or (
            error.error == "invalid_client" and ("not found" in lowered)
        ):
            if self.provider == "google":
                return refused(
                    _("Google does not know this service account any more."),
                    _("Create a new JSON key for an existing service account and paste it."),
                )
            return refused(
                _("The provider knows no application with this client ID in this tenant."),
                _(
                    "Copy the Application (client) ID from the app registration's "
                    "Overview page, and check that the tenant in the token URL is the one "
                    "it is registered in."
                ),
            )
        if "AADSTS7000222" in codes or ("expired" in lowered and error.error == "invalid_client"):
            return refused(
                _("The client secret has expired."),
                _(
                    "Create a new client secret for the application (Certificates & "
                    "secrets) and enter its value."
                ),
            )
        if "AADSTS7000215" in codes or "invalid client secret" in lowered:
            return refused(
                _("The provider did not accept the client secret."),
                _(
                    "Enter the secret's Value, not its Secret ID, as shown once when it "
                    "was created under Certificates & secrets; if it is lost, create a "
                    "new one."
                ),
            )
        if (
            "AADSTS700024" in codes
            or "reasonable timeframe" in lowered
            or ("valid time range" in lowered)
        ):
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            return refused(
                _(
                    "The provider thinks the signed assertion is outside its valid time: "
                    "this machine's clock is probably wrong (it says %(now)s)."
                )
                % {"now": now},
                _("Set this machine's clock right, best with NTP, and try again."),
            )
        if codes & {"AADSTS700027", "AADSTS700023", "AADSTS50012"} or (
            "signature" in lowered and self.provider != "google"
        ):
            return refused(
                _(
                    "The provider did not accept the client certificate's signature: the "
                    "certificate is not registered for the application, or has expired."
                ),
                _(
                    "Upload the certificate of this PEM to the application (Certificates "
                    "& secrets → Certificates), or renew it there and paste the new key "
                    "and certificate."
                ),
            )
        if "invalid jwt signature" in lowered:
            return refused(
                _(
                    "Google did not accept the service account key's signature: the key "
                    "was deleted or disabled."
                ),
                _("Create a new JSON key for the service account and paste it."),
            )
        if codes & {"AADSTS70011", "AADSTS1002012", "AADSTS650057"} or (
            error.error == "invalid_scope"
        ):
            return refused(
                _("The provider refused the scope."),
                _(
                    "For Microsoft 365 enter https://outlook.office365.com/.default as "
                    "Scope; other providers name theirs in their documentation."
                ),
            )
        if self.provider == "google" and error.error == "unauthorized_client":
            return refused(
                _(
                    "Google did not grant the service account domain-wide delegation for "
                    "https://mail.google.com/ (or for this user)."
                ),
                _(
                    "In the Google Admin console, Security → Access and data control → "
                    "API controls → Domain-wide delegation, add the service account's "
                    "client ID with the scope https://mail.google.com/."
                ),
            )
        if self.provider == "google" and "invalid email or user id" in lowered:
            return refused(
                _("Google knows no Workspace user %(username)s in the service account's domain.")
                % {"username": username}
                if (username := self.config.username if self.config else "")
                else _(
                    "Google knows no Workspace user of that name in the service account's domain."
                ),
                _(
                    "Enter as Username the address of a user of your Google Workspace "
                    "domain (not an alias or a group)."
                ),
            )
        if error.error == "unauthorized_client":
            return refused(
                _("The provider does not let this application use the client credentials grant."),
                _(
                    "Allow the application to get tokens for itself (application "
                    "permissions, not delegated ones), with admin consent."
                ),
            )
        return refused(
            _("The token endpoint refused to issue a token."),
            _(
                "Its answer says why; check the client ID, the secret or certificate, and "
                "the scope."
            ),
        )

    def oauth_login(self, code: int, text: str) -> Explanation:
        # Translators: stands for the mailbox's address in a sentence when none is saved.
        user = self.config.username if self.config else _("the mailbox")
        if 400 <= code < 500:
            return self.result(
                _("The server could not check the access token for now (“%(reply)s”).")
                % {"reply": text},
                _("Try again in a few minutes."),
                temporary=True,
            )
        if self.provider == "microsoft":
            if "5.7.139" in text or "smtpclientauthentication" in text.lower().replace(" ", ""):
                return self.result(
                    _(
                        "Exchange Online has SMTP AUTH turned off for %(user)s or for the "
                        "whole organisation (“%(reply)s”)."
                    )
                    % {"user": user, "reply": text},
                    microsoft_smtp_auth_fix(user),
                    temporary=False,
                )
            return self.result(
                _(
                    "Exchange Online did not accept the access token for %(user)s "
                    "(“%(reply)s”). The token was issued, so the usual causes are on the "
                    "Exchange side: the application's service principal is not registered "
                    "in Exchange Online, it has no permission on this mailbox, or SMTP "
                    "AUTH is turned off for the mailbox."
                )
                % {"user": user, "reply": text},
                _(
                    "Register the service principal (New-ServicePrincipal -AppId … "
                    "-ObjectId …), grant it the mailbox (Add-MailboxPermission -Identity "
                    "%(user)s -User … -AccessRights FullAccess), and allow SMTP AUTH for "
                    "the mailbox (Set-CASMailbox -Identity %(user)s "
                    "-SmtpClientAuthenticationDisabled $false). Changes can take up to an "
                    "hour to apply."
                )
                % {"user": user},
                temporary=False,
            )
        if self.provider == "google":
            return self.result(
                _(
                    "Gmail did not accept the access token for %(user)s (“%(reply)s”): "
                    "the user is not in the service account's Workspace domain, the "
                    "user's Gmail is turned off, or the delegation does not include "
                    "https://mail.google.com/."
                )
                % {"user": user, "reply": text},
                _(
                    "Enter as Username a Workspace user with Gmail, and check the "
                    "domain-wide delegation of the service account's client ID."
                ),
                temporary=False,
            )
        return self.result(
            _("The server did not accept the access token for %(user)s (“%(reply)s”).")
            % {"user": user, "reply": text},
            _(
                "Check that the Username is the mailbox the application may send as, and "
                "that the mail server accepts tokens from this token URL and scope."
            ),
            temporary=False,
        )

    def login_without_tls(self, error: LoginWithoutTLS) -> Explanation:
        host = self.host
        return self.result(
            _(
                "The connection is not encrypted (Enable TLS is off), so the access token "
                "was not sent to %(host)s: it would have crossed the network as plain "
                "text, readable by anyone on the way."
            )
            % {"host": host}
            if error.credential == ACCESS_TOKEN
            else _(
                "The connection is not encrypted (Enable TLS is off), so the password was "
                "not sent to %(host)s: it would have crossed the network as plain text, "
                "readable by anyone on the way."
            )
            % {"host": host},
            _(
                "Turn on Enable TLS (STARTTLS), or choose SMTPS, if the server offers it. "
                "Only for a server that offers no TLS on a network you trust, such as a "
                "relay on this machine, tick Allow login without TLS."
            ),
            temporary=False,
        )

    def login(self) -> Explanation:
        error = self.error
        if self.config is not None and self.config.uses_oauth:
            if isinstance(error, XOAuth2NotOffered):
                return self.result(
                    _("%(where)s does not offer the XOAUTH2 login (%(error)s).")
                    % {"where": self.where, "error": error},
                    _(
                        "Check the server name and that Enable TLS is on (many servers "
                        "offer XOAUTH2 only over TLS); if the server takes passwords, "
                        "choose Password."
                    ),
                    temporary=False,
                )
            if isinstance(error, smtplib.SMTPResponseException):
                return self.oauth_login(
                    error.smtp_code, reply_text(error.smtp_code, error.smtp_error)
                )
        encrypted = bool(self.config and (self.config.implicit_tls or self.config.starttls))
        if isinstance(error, smtplib.SMTPNotSupportedError) or (
            isinstance(error, smtplib.SMTPException)
            and "no suitable authentication method" in str(error).lower()
        ):
            if isinstance(error, smtplib.SMTPNotSupportedError):
                cause = (
                    _("The server does not offer login (SMTP AUTH) on this connection.")
                    if encrypted
                    else _(
                        "The server does not offer login (SMTP AUTH) on this connection. "
                        "Many servers offer login only once the connection is encrypted."
                    )
                )
            else:
                cause = (
                    _(
                        "The server offers no login method this application supports "
                        "(PLAIN, LOGIN or CRAM-MD5)."
                    )
                    if encrypted
                    else _(
                        "The server offers no login method this application supports "
                        "(PLAIN, LOGIN or CRAM-MD5). Many servers offer login only once "
                        "the connection is encrypted."
                    )
                )
            return self.result(
                cause,
                _(
                    "Turn on Enable TLS (or choose SMTPS) if the server offers login only "
                    "over TLS; if the server needs no login, turn off Use authentication."
                ),
                temporary=False,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            text = reply_text(code, error.smtp_error)
            lowered = text.lower()
            if code == 538 or "encryption" in lowered or "starttls" in lowered:
                return self.result(
                    _(
                        "The server accepts the login only over an encrypted connection "
                        "(“%(reply)s”)."
                    )
                    % {"reply": text},
                    _("Turn on Enable TLS (STARTTLS), or choose SMTPS."),
                    temporary=False,
                )
            if 400 <= code < 500:
                return self.result(
                    _("The server could not check the login for now (“%(reply)s”).")
                    % {"reply": text},
                    _("Try again in a few minutes."),
                    temporary=True,
                )
            return self.result(
                _("The server rejected the username or password (“%(reply)s”).") % {"reply": text},
                _(
                    "Check the username and password. Many providers require an app "
                    "password for SMTP, or SMTP login to be allowed for the account."
                ),
                temporary=False,
            )
        return self.common(LOGIN) or self.unexpected()

    def _requires_login(self, code: int, text: str) -> Explanation | None:
        lowered = text.lower()
        if "starttls" in lowered or "must issue a starttls" in lowered:
            return self.result(
                _("The server accepts mail only over an encrypted connection (“%(reply)s”).")
                % {"reply": text},
                _("Turn on Enable TLS (STARTTLS), or choose SMTPS."),
                temporary=False,
            )
        if code == 530 or "authentication required" in lowered or "5.7.0" in lowered:
            using_auth = bool(self.config and self.config.use_auth)
            return self.result(
                _("The server requires a login before it accepts mail (“%(reply)s”).")
                % {"reply": text},
                _(
                    "Turn on Use authentication and enter the username and password of "
                    "the mail account."
                )
                if not using_auth
                else _("Check that the username belongs to an account allowed to send mail."),
                temporary=False,
            )
        return None

    def needs_smtputf8(self, error: AddressNeedsSMTPUTF8) -> Explanation:
        address, where = error.address, self.where
        return self.result(
            _(
                "%(address)s has letters outside ASCII before the @, and %(where)s does "
                "not offer SMTPUTF8, the extension that carries such addresses. (A domain "
                "with such letters is no problem: it is sent in its ASCII form.)"
            )
            % {"address": address, "where": where},
            _(
                "Use a sender email whose part before the @ is plain ASCII, or a mail "
                "server that offers SMTPUTF8."
            )
            if self.step == StepName.SENDER
            else _(
                "Use a recipient address whose part before the @ is plain ASCII, or a "
                "mail server that offers SMTPUTF8."
            ),
            temporary=False,
        )

    def real_cause(self, code: int, text: str) -> Explanation | None:
        """Name the cause a reply gives, whichever command it answered.

        Postfix delays its refusals of the greeting and of the sender to RCPT TO
        (smtpd_delay_reject), so a refusal there is not always the recipient's: the enhanced
        status code and the text say whose it is.
        """
        lowered = text.lower()
        status = _ENHANCED_STATUS.search(text)
        enhanced = status.group(0) if status else ""
        if 400 <= code < 500 and "greylist" in lowered:
            minutes = GREYLIST_DELAY_SECONDS // 60
            return self.result(
                _(
                    "The server greylists: it turns away the first attempt from a sender "
                    "it has not seen before, and accepts a retry after a delay "
                    "(“%(reply)s”)."
                )
                % {"reply": text},
                _(
                    "Nothing to change: mail waiting in the queue is tried again after "
                    "%(minutes)s minutes, when the server lets it through. Send a test "
                    "mail again after %(minutes)s minutes."
                )
                % {"minutes": minutes},
                temporary=True,
                retry_after_seconds=GREYLIST_DELAY_SECONDS,
            )
        if "helo command rejected" in lowered or (enhanced.endswith(".5.2") and "helo" in lowered):
            return self.result(
                _(
                    "The server refused the name this installation greeted it with, "
                    "%(name)s (“%(reply)s”); the recipient is not the cause."
                )
                % {"name": name, "reply": text}
                if (name := self.config.greeting_name if self.config else "")
                else _(
                    "The server refused the name this installation greeted it with "
                    "(“%(reply)s”); the recipient is not the cause."
                )
                % {"reply": text},
                _(
                    "Enter this installation's fully-qualified host name (such as "
                    "autommate.example.org) in EHLO name on the mail settings page, or "
                    "set AUTOMMATE_BASE_URL to its public name."
                ),
                temporary=400 <= code < 500,
            )
        # At MAIL FROM the sender's own explanation applies; at a later step it must be said.
        if (
            self.step != StepName.SENDER
            and "sender address rejected" in lowered
            and ("not owned" in lowered or enhanced == "5.7.1" or code == 553)
        ):
            login = self.config.username if self.config and self.config.use_auth else ""
            return self.result(
                _(
                    "The server does not let the login %(login)s send as the sender email "
                    "(“%(reply)s”); the recipient is not the cause."
                )
                % {"login": login, "reply": text}
                if login
                else _(
                    "The server does not let this login send as the sender email "
                    "(“%(reply)s”); the recipient is not the cause."
                )
                % {"reply": text},
                _(
                    "Enter as Sender email an address this mail account may send as "
                    "(often the account's own address), or ask the mail server's "
                    "administrator to allow this sender for the login."
                ),
                temporary=False,
            )
        if (
            code == 552
            or enhanced in ("5.3.4", "5.2.3")
            or ("size" in lowered and "exceed" in lowered)
        ):
            return self.result(
                _("The server refused the mail as larger than its size limit (“%(reply)s”).")
                % {"reply": text},
                _(
                    "Ask the mail server's administrator to raise its size limit "
                    "(Postfix: message_size_limit); the mails of this product are small, "
                    "so a limit this low usually is a mistake."
                ),
                temporary=False,
            )
        return None

    def sender(self) -> Explanation:
        error = self.error
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            text = reply_text(code, error.smtp_error)
            address = getattr(error, "sender", "")
            address = address.decode() if isinstance(address, bytes) else str(address)
            if cause := self.real_cause(code, text):
                return cause
            if login := self._requires_login(code, text):
                return login
            if 400 <= code < 500:
                return self.result(
                    _(
                        "The server did not accept the sender address %(address)s for now "
                        "(“%(reply)s”)."
                    )
                    % {"address": address, "reply": text},
                    _("Try again in a few minutes; temporary replies usually clear by themselves."),
                    temporary=True,
                )
            return self.result(
                _("The server refused the sender address %(address)s (“%(reply)s”).")
                % {"address": address, "reply": text},
                _(
                    "Use a sender email that this mail account may send as: often the "
                    "account's own address, or an address in a domain the provider has "
                    "verified."
                ),
                temporary=False,
            )
        return self.common(SENDER) or self.unexpected()

    def recipient(self) -> Explanation:
        error = self.error
        if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
            address, (code, reply) = next(iter(error.recipients.items()))
            text = reply_text(code, reply)
            if cause := self.real_cause(code, text):
                return cause
            if login := self._requires_login(code, text):
                return login
            if 400 <= code < 500:
                return self.result(
                    _("The server did not accept the recipient %(address)s for now (“%(reply)s”).")
                    % {"address": address, "reply": text},
                    _(
                        "Try again in a few minutes; some servers turn away first "
                        "attempts on purpose (greylisting)."
                    ),
                    temporary=True,
                )
            if "relay" in text.lower():
                return self.result(
                    _(
                        "The server does not pass mail on to %(address)s for this machine "
                        "(“%(reply)s”)."
                    )
                    % {"address": address, "reply": text},
                    _(
                        "Turn on Use authentication: most servers pass mail on to outside "
                        "addresses only for a logged-in sender."
                    ),
                    temporary=False,
                )
            return self.result(
                _("The server refused the recipient %(address)s (“%(reply)s”).")
                % {"address": address, "reply": text},
                _(
                    "Check the recipient address for typing mistakes; if it is right, the "
                    "server's reply says why it was refused."
                ),
                temporary=False,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply(
                error.smtp_code,
                reply_text(error.smtp_code, error.smtp_error),
                doing=ACCEPT_RECIPIENT,
            )
        return self.common(RECIPIENT) or self.unexpected()

    def message(self) -> Explanation:
        error = self.error
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            text = reply_text(code, error.smtp_error)
            if cause := self.real_cause(code, text):
                return cause
            if 400 <= code < 500:
                return self.result(
                    _("The server did not accept the message for now (“%(reply)s”).")
                    % {"reply": text},
                    _(
                        "Try again in a few minutes; mail waiting in the queue is retried "
                        "automatically."
                    ),
                    temporary=True,
                )
            return self.result(
                _("The server refused the message (“%(reply)s”).") % {"reply": text},
                _(
                    "The server's reply says why: often the message looked like spam, was "
                    "too large, or the sender's domain does not allow this server to send "
                    "for it (SPF, DKIM)."
                ),
                temporary=False,
            )
        return self.common(MESSAGE) or self.unexpected()


def _message(error: BaseException) -> str:
    """Return an error's message as it was made: a Sentence keeps its msgid for the mail log."""
    made = error.args[0] if error.args else None
    return made if isinstance(made, Sentence) else str(error)


def technical_detail(error: BaseException) -> str:
    """Return the error as the server or the library reported it, for the step's detail."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            address + ": " + reply_text(code, reply)
            for address, (code, reply) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return reply_text(error.smtp_code, error.smtp_error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return _("Certificate verification failed: %(message)s") % {"message": error.verify_message}
    if isinstance(error, ssl.SSLError):
        return _("TLS error: %(error)s") % {"error": _ssl_reason(error) or error}
    if isinstance(error, socket.gaierror):
        return _("DNS lookup failed: %(error)s") % {"error": error.strerror or error}
    if isinstance(error, TimeoutError):
        return _("Timed out.")
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return text or type(error).__name__
