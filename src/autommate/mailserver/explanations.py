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
from urllib.parse import urlsplit

from autommate.delivery.failures import SendFailure

from .connection import (
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
MICROSOFT_SMTP_AUTH_FIX = (
    "In Exchange Online, allow SMTP AUTH for the mailbox (Set-CASMailbox -Identity {user} "
    "-SmtpClientAuthenticationDisabled $false) and check that it is not disabled for the whole "
    "organisation (Get-TransportConfig | Format-List SmtpClientAuthenticationDisabled)."
)


# Greylisting servers (postgrey's default) let a retry through after 300 seconds; the next
# attempt comes just after that, not at the next step of the backoff.
GREYLIST_DELAY_SECONDS = 300
GREYLIST_RETRY_SECONDS = GREYLIST_DELAY_SECONDS + 10
_ENHANCED_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class Explanation:
    step: StepName
    cause: str
    fix: str
    temporary: bool
    # How long to wait before trying again, when the server's reply says (greylisting).
    retry_after_seconds: float | None = None


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
    if isinstance(error, MailServerNotConfigured):
        # Retried: the administrator may save the settings any moment.
        return SendFailure(text="The mail server is not configured.", temporary=True)
    explanation = explain(error, config=_saved_oauth_config())
    label = explanation.step.label
    text = f"{label}: {explanation.cause} {explanation.fix}".strip()
    inner = error.error if isinstance(error, MailStepError) else error
    throttled = is_throttled(error)
    return SendFailure(
        text=text,
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
        return "(an answer that is not an SMTP reply)"
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = " ".join(text.split())
    if len(text) > MAX_REPLY_CHARS:
        text = text[: MAX_REPLY_CHARS - 1] + "…"
    return f"{code} {text}".strip()


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
                "No mail server is configured yet.",
                "Enter the server name and sender email on the mail settings page and save.",
                temporary=False,
            )
        if isinstance(error, DestinationRefused) and self.step != StepName.TOKEN:
            return self.result(
                str(error),
                f"Use a mail server at an allowed address. {error.how_to_allow}",
                temporary=False,
            )
        if isinstance(error, NotAMailServer):
            return self.not_a_mail_server()
        if isinstance(error, UndecryptableSecret):
            return self.result(
                f"The saved {error.label} cannot be read with the current encryption keys: it "
                "was saved under a key that AUTOMMATE_ENCRYPTION_KEYS no longer holds.",
                f"Enter the {error.label} again and save the mail settings.",
                temporary=False,
            )
        if isinstance(error, UnusableSenderEmail):
            return self.result(
                str(error),
                "Enter the sender email again on the mail settings page, and save.",
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
            StepName.TOKEN: self.token,
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
        if is_timeout(self.error):
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
        if is_timeout(error):
            return self.result(
                f"Looking up {self.host} in DNS took too long.",
                "Try again in a moment; if it keeps happening, check this machine's DNS settings.",
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
        if is_timeout(error):
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
                error.smtp_code, reply_text(error.smtp_code, error.smtp_error), doing="start TLS"
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
        # The server has greeted in SMTP by now (anything else fails to connect); what is left is
        # a greeting that turns this machine away (421, 554), or EHLO going wrong.
        error = self.error
        if is_timeout(error):
            return self.result(
                f"{self.where} greeted but did not answer EHLO in time.",
                "Try again later. If it keeps happening, the server may be overloaded or "
                "refusing this machine: ask the mail server's administrator.",
                temporary=True,
            )
        if _is_connection_lost(error):
            return self.result(
                f"{self.where} closed the connection after its greeting.",
                "Try again later. If it keeps happening, the server may be refusing this "
                "machine or be overloaded: ask the mail server's administrator.",
                temporary=True,
            )
        if isinstance(error, smtplib.SMTPResponseException):
            return self.reply(
                error.smtp_code,
                reply_text(error.smtp_code, error.smtp_error),
                doing="talk to this machine",
            )
        return self.unexpected()

    def not_a_mail_server(self) -> Explanation:
        """One answer for a closed port, a silent one and one where another service listens.

        Telling them apart would turn the test mail into a port scanner; the fix names the
        likely mistakes from the settings alone, never from what the port did.
        """
        config = self.config
        where = f"{config.host} port {config.port}" if config else "the configured server and port"
        hint = ""
        if config and not config.implicit_tls and config.port == 465:
            hint = "Port 465 usually expects SMTPS (TLS from the first byte): choose SMTPS. "
        elif config and config.implicit_tls and config.port in {25, 587}:
            hint = (
                f"Port {config.port} usually expects SMTP, with Enable TLS for STARTTLS: "
                "choose SMTP. "
            )
        return self.result(
            f"No mail server answered at {where}: the port is closed, another service listens "
            "on it, or nothing answered in time.",
            f"{hint}Check the server name and port. {_PORT_ADVICE} If they are right, check that "
            "the mail server is running and that no firewall holds the connection up, then try "
            "again later.",
            temporary=True,
        )

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
            return "the token URL"
        try:
            url = token_url_of(self.config)
        except TokenError:
            return "the token URL"
        return urlsplit(url).hostname or url

    def token(self) -> Explanation:
        error = self.error
        where = f"The token URL's server {self.token_host}"
        if isinstance(error, InvalidTokenURL):
            return self.result(
                str(error),
                "Enter the provider's token URL, starting with https:// (Microsoft 365: "
                "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token with your tenant "
                "ID or domain).",
                temporary=False,
            )
        if isinstance(error, InvalidCredential):
            return self.result(
                str(error),
                "Paste the service account's JSON key as Google created it."
                if self.provider == "google"
                else "Paste the PEM private key followed by its certificate, or use a client "
                "secret instead.",
                temporary=False,
            )
        if isinstance(error, DestinationRefused):
            return self.result(
                str(error),
                f"Check the token URL. {error.how_to_allow}",
                temporary=False,
            )
        if isinstance(error, socket.gaierror):
            return self.result(
                f"The server name {self.token_host} of the token URL could not be found"
                + (" for now." if error.errno == socket.EAI_AGAIN else ": DNS knows no such name."),
                "Check the spelling of the token URL.",
                temporary=error.errno == socket.EAI_AGAIN,
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            message = error.verify_message or ""
            if error.verify_code == 62 or "mismatch" in message.lower():
                cause = f"The certificate of {self.token_host} is not valid for that name."
            else:
                cause = (
                    f"The certificate of {self.token_host} is not signed by an authority this "
                    f"system trusts ({message or 'unknown issuer'})."
                )
            return self.result(
                cause,
                "Check the host name in the token URL. If the token endpoint uses a private CA, "
                "paste that CA's certificate into the CA certificate field: it is trusted for "
                "the token URL too.",
                temporary=False,
            )
        if isinstance(error, TokenRedirected):
            return self.result(
                f"{where} answered with a redirect to {error.location or 'another address'}; "
                "access tokens are fetched only from the URL as entered.",
                "Enter the token endpoint's own URL, not a page that forwards to it.",
                temporary=False,
            )
        if isinstance(error, NotAToken):
            if error.too_large:
                cause = f"{where} answered with more than 64 KB, which is not a token."
            else:
                shown = f" (“{error.excerpt}”)" if error.excerpt else ""
                cause = (
                    f"{where} answered HTTP {error.status} with "
                    f"{error.content_type or 'an unknown type'}, not an access token{shown}."
                )
            return self.result(
                cause,
                "Check the token URL: it must be the provider's OAuth 2.0 token endpoint"
                + (", ending in /oauth2/v2.0/token." if self.provider == "microsoft" else "."),
                temporary=error.status >= 500,
            )
        if isinstance(error, TokenRefused):
            return self.token_refused(error)
        if isinstance(error, ConnectionRefusedError):
            return self.result(
                f"{where} refused the connection.",
                "Check the token URL, and that a firewall allows outgoing connections to it.",
                temporary=True,
            )
        if is_timeout(error):
            return self.result(
                f"{where} did not answer in time.",
                "Try again later. If it keeps happening, check the token URL and that a "
                "firewall allows outgoing https connections to it.",
                temporary=True,
            )
        if isinstance(error, ssl.SSLError):
            return self.result(
                f"The TLS handshake with {self.token_host} failed ({_ssl_reason(error) or error}).",
                "Check that the token URL is an https address of the provider.",
                temporary=False,
            )
        if isinstance(error, OSError):
            return self.result(
                f"Could not reach {self.token_host} ({error.strerror or error}).",
                "Check the token URL and this machine's network; then try again.",
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
        quoted = f"(“{said}”)"
        codes = set(error.codes)
        lowered = error.description.lower()

        def refused(cause: str, fix: str, *, temporary: bool = False) -> Explanation:
            return self.result(f"{cause} {quoted}", fix, temporary=temporary)

        if error.status >= 500 or error.error == "temporarily_unavailable":
            return refused(
                "The token endpoint could not issue a token for now.",
                "Try again in a few minutes.",
                temporary=True,
            )
        if codes & {"AADSTS90002", "AADSTS900023", "AADSTS90013"}:
            return refused(
                "Microsoft Entra does not know the tenant in the token URL.",
                "Replace the tenant in the token URL with your Directory (tenant) ID or your "
                "organisation's primary domain.",
            )
        if codes & {"AADSTS700016", "AADSTS90014"} or (
            error.error == "invalid_client" and ("not found" in lowered)
        ):
            if self.provider == "google":
                return refused(
                    "Google does not know this service account any more.",
                    "Create a new JSON key for an existing service account and paste it.",
                )
            return refused(
                "The provider knows no application with this client ID in this tenant.",
                "Copy the Application (client) ID from the app registration's Overview page, "
                "and check that the tenant in the token URL is the one it is registered in.",
            )
        if "AADSTS7000222" in codes or ("expired" in lowered and error.error == "invalid_client"):
            return refused(
                "The client secret has expired.",
                "Create a new client secret for the application (Certificates & secrets) and "
                "enter its value.",
            )
        if "AADSTS7000215" in codes or "invalid client secret" in lowered:
            return refused(
                "The provider did not accept the client secret.",
                "Enter the secret's Value, not its Secret ID, as shown once when it was created "
                "under Certificates & secrets; if it is lost, create a new one.",
            )
        if (
            "AADSTS700024" in codes
            or "reasonable timeframe" in lowered
            or ("valid time range" in lowered)
        ):
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            return refused(
                f"The provider thinks the signed assertion is outside its valid time: this "
                f"machine's clock is probably wrong (it says {now}).",
                "Set this machine's clock right, best with NTP, and try again.",
            )
        if codes & {"AADSTS700027", "AADSTS700023", "AADSTS50012"} or (
            "signature" in lowered and self.provider != "google"
        ):
            return refused(
                "The provider did not accept the client certificate's signature: the "
                "certificate is not registered for the application, or has expired.",
                "Upload the certificate of this PEM to the application (Certificates & secrets "
                "→ Certificates), or renew it there and paste the new key and certificate.",
            )
        if "invalid jwt signature" in lowered:
            return refused(
                "Google did not accept the service account key's signature: the key was "
                "deleted or disabled.",
                "Create a new JSON key for the service account and paste it.",
            )
        if codes & {"AADSTS70011", "AADSTS1002012", "AADSTS650057"} or (
            error.error == "invalid_scope"
        ):
            return refused(
                "The provider refused the scope.",
                "For Microsoft 365 enter https://outlook.office365.com/.default as Scope; other "
                "providers name theirs in their documentation.",
            )
        if self.provider == "google" and error.error == "unauthorized_client":
            return refused(
                "Google did not grant the service account domain-wide delegation for "
                "https://mail.google.com/ (or for this user).",
                "In the Google Admin console, Security → Access and data control → API "
                "controls → Domain-wide delegation, add the service account's client ID with "
                "the scope https://mail.google.com/.",
            )
        if self.provider == "google" and "invalid email or user id" in lowered:
            username = self.config.username if self.config else "the username"
            return refused(
                f"Google knows no Workspace user {username} in the service account's domain.",
                "Enter as Username the address of a user of your Google Workspace domain (not "
                "an alias or a group).",
            )
        if error.error == "unauthorized_client":
            return refused(
                "The provider does not let this application use the client credentials grant.",
                "Allow the application to get tokens for itself (application permissions, not "
                "delegated ones), with admin consent.",
            )
        return refused(
            "The token endpoint refused to issue a token.",
            "Its answer says why; check the client ID, the secret or certificate, and the scope.",
        )

    def oauth_login(self, code: int, text: str) -> Explanation:
        user = self.config.username if self.config else "the mailbox"
        if 400 <= code < 500:
            return self.result(
                f"The server could not check the access token for now (“{text}”).",
                "Try again in a few minutes.",
                temporary=True,
            )
        if self.provider == "microsoft":
            if "5.7.139" in text or "smtpclientauthentication" in text.lower().replace(" ", ""):
                return self.result(
                    f"Exchange Online has SMTP AUTH turned off for {user} or for the whole "
                    f"organisation (“{text}”).",
                    MICROSOFT_SMTP_AUTH_FIX.format(user=user),
                    temporary=False,
                )
            return self.result(
                f"Exchange Online did not accept the access token for {user} (“{text}”). The "
                "token was issued, so the usual causes are on the Exchange side: the "
                "application's service principal is not registered in Exchange Online, it has "
                "no permission on this mailbox, or SMTP AUTH is turned off for the mailbox.",
                "Register the service principal (New-ServicePrincipal -AppId … -ObjectId …), "
                f"grant it the mailbox (Add-MailboxPermission -Identity {user} -User … "
                "-AccessRights FullAccess), and allow SMTP AUTH for the mailbox "
                f"(Set-CASMailbox -Identity {user} -SmtpClientAuthenticationDisabled $false). "
                "Changes can take up to an hour to apply.",
                temporary=False,
            )
        if self.provider == "google":
            return self.result(
                f"Gmail did not accept the access token for {user} (“{text}”): the user is not "
                "in the service account's Workspace domain, the user's Gmail is turned off, or "
                "the delegation does not include https://mail.google.com/.",
                "Enter as Username a Workspace user with Gmail, and check the domain-wide "
                "delegation of the service account's client ID.",
                temporary=False,
            )
        return self.result(
            f"The server did not accept the access token for {user} (“{text}”).",
            "Check that the Username is the mailbox the application may send as, and that the "
            "mail server accepts tokens from this token URL and scope.",
            temporary=False,
        )

    def login_without_tls(self, error: LoginWithoutTLS) -> Explanation:
        return self.result(
            f"The connection is not encrypted (Enable TLS is off), so the {error.credential} was "
            f"not sent to {self.host}: it would have crossed the network as plain text, "
            "readable by anyone on the way.",
            "Turn on Enable TLS (STARTTLS), or choose SMTPS, if the server offers it. Only for a "
            "server that offers no TLS on a network you trust, such as a relay on this machine, "
            "tick Allow login without TLS.",
            temporary=False,
        )

    def login(self) -> Explanation:
        error = self.error
        if self.config is not None and self.config.uses_oauth:
            if isinstance(error, XOAuth2NotOffered):
                return self.result(
                    f"{self.where} does not offer the XOAUTH2 login ({error}).",
                    "Check the server name and that Enable TLS is on (many servers offer "
                    "XOAUTH2 only over TLS); if the server takes passwords, choose Password.",
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
            text = reply_text(code, error.smtp_error)
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

    def needs_smtputf8(self, error: AddressNeedsSMTPUTF8) -> Explanation:
        which = "sender email" if self.step == StepName.SENDER else "recipient address"
        return self.result(
            f"{error.address} has letters outside ASCII before the @, and {self.where} does not "
            "offer SMTPUTF8, the extension that carries such addresses. (A domain with such "
            "letters is no problem: it is sent in its ASCII form.)",
            f"Use a {which} whose part before the @ is plain ASCII, or a mail server that "
            "offers SMTPUTF8.",
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
            return self.result(
                f"The server greylists: it turns away the first attempt from a sender it has not "
                f"seen before, and accepts a retry after a delay (“{text}”).",
                "Nothing to change: mail waiting in the queue is tried again after "
                f"{GREYLIST_DELAY_SECONDS // 60} minutes, when the server lets it through. Send "
                f"a test mail again after {GREYLIST_DELAY_SECONDS // 60} minutes.",
                temporary=True,
                retry_after_seconds=GREYLIST_RETRY_SECONDS,
            )
        if "helo command rejected" in lowered or (enhanced.endswith(".5.2") and "helo" in lowered):
            name = self.config.greeting_name if self.config else "this installation's name"
            return self.result(
                f"The server refused the name this installation greeted it with, {name} "
                f"(“{text}”); the recipient is not the cause.",
                "Enter this installation's fully-qualified host name (such as "
                "autommate.example.org) in EHLO name on the mail settings page, or set "
                "AUTOMMATE_BASE_URL to its public name.",
                temporary=400 <= code < 500,
            )
        # At MAIL FROM the sender's own explanation applies; at a later step it must be said.
        if (
            self.step != StepName.SENDER
            and "sender address rejected" in lowered
            and ("not owned" in lowered or enhanced == "5.7.1" or code == 553)
        ):
            login = self.config.username if self.config and self.config.use_auth else ""
            who = f"the login {login}" if login else "this login"
            return self.result(
                f"The server does not let {who} send as the sender email (“{text}”); the "
                "recipient is not the cause.",
                "Enter as Sender email an address this mail account may send as (often the "
                "account's own address), or ask the mail server's administrator to allow this "
                "sender for the login.",
                temporary=False,
            )
        if (
            code == 552
            or enhanced in ("5.3.4", "5.2.3")
            or ("size" in lowered and "exceed" in lowered)
        ):
            return self.result(
                f"The server refused the mail as larger than its size limit (“{text}”).",
                "Ask the mail server's administrator to raise its size limit (Postfix: "
                "message_size_limit); the mails of this product are small, so a limit this low "
                "usually is a mistake.",
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
            text = reply_text(code, reply)
            if cause := self.real_cause(code, text):
                return cause
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
                reply_text(error.smtp_code, error.smtp_error),
                doing="accept the recipient",
            )
        return self.common("when given the recipient") or self.unexpected()

    def message(self) -> Explanation:
        error = self.error
        if isinstance(error, smtplib.SMTPResponseException):
            code = error.smtp_code
            text = reply_text(code, error.smtp_error)
            if cause := self.real_cause(code, text):
                return cause
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


def technical_detail(error: BaseException) -> str:
    """Return the error as the server or the library reported it, for the step's detail."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address}: {reply_text(code, reply)}"
            for address, (code, reply) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return reply_text(error.smtp_code, error.smtp_error)
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
