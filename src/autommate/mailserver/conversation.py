"""The SMTP conversation, written once for the test mail and for real mail.

Resolve the server name, check the destination, connect, start TLS (from the first byte, or with
STARTTLS after the greeting), greet, log in, then MAIL FROM, RCPT TO, DATA, and QUIT. The mail
backend opens its connection with open_connection() and sends each message with send_message();
the test mail runs the same two functions through converse(), with a StepRecorder that builds its
step ladder and a Deadline that bounds the whole conversation. A failed step raises MailStepError.
"""

from __future__ import annotations

import email.policy
import functools
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from django.utils.encoding import punycode
from django.utils.translation import gettext as _

from . import tokens
from .connection import (
    AddressNeedsSMTPUTF8,
    Deadline,
    LoginWithoutTLS,
    NotAMailServer,
    ServerConfig,
    SMTPOverSocket,
    open_socket,
    resolve_within,
    ssl_context,
)
from .destinations import DestinationRefused, check_destination
from .explanations import reply_text, speaks_no_tls
from .steps import MailStepError, StepName

# Saying goodbye must not hold anything up when the server is slow to answer QUIT.
QUIT_TIMEOUT_SECONDS = 2.0
_BARE_LF = re.compile(rb"(?<!\r)\n")


class StepRecorder(Protocol):
    """Told of every step that passed or was not needed; failures arrive as MailStepError."""

    def passed(self, step: StepName, detail: str) -> None: ...

    def not_used(self, step: StepName, detail: str) -> None: ...


class NoRecording:
    """The recorder of real mail, which keeps no step ladder."""

    def passed(self, step: StepName, detail: str) -> None:
        pass

    def not_used(self, step: StepName, detail: str) -> None:
        pass


NO_RECORDING = NoRecording()


def steps_in_order(config: ServerConfig) -> list[StepName]:
    """Return the steps of the conversation with these settings, in the order they happen."""
    if config.implicit_tls:
        middle = [StepName.TLS, StepName.GREETING]
    else:
        # STARTTLS follows the greeting, and the step list follows the conversation.
        middle = [StepName.GREETING, StepName.TLS]
    # The access token of an OAuth login is fetched just before it is needed.
    token = [StepName.TOKEN] if config.uses_oauth else []
    return [
        StepName.RESOLVE,
        StepName.CONNECT,
        *middle,
        *token,
        StepName.LOGIN,
        StepName.SENDER,
        StepName.RECIPIENT,
        StepName.MESSAGE,
    ]


class _Timing:
    """The timeouts of one conversation: the settings' per-operation timeout, within a deadline."""

    def __init__(self, config: ServerConfig, deadline: Deadline | None) -> None:
        self.config = config
        self.deadline = deadline

    def next_timeout(self) -> float | None:
        if self.deadline is None:
            return self.config.socket_timeout
        return self.deadline.next_timeout(self.config.timeout_seconds)

    def arm(self, sock: socket.socket | None) -> None:
        if sock is not None:
            sock.settimeout(self.next_timeout())


@contextmanager
def _step(step: StepName) -> Iterator[None]:
    """Raise any error of the step as a MailStepError that names it."""
    try:
        yield
    except MailStepError:
        raise
    except Exception as error:
        raise MailStepError(step, error) from error


def open_connection(
    config: ServerConfig,
    *,
    recorder: StepRecorder = NO_RECORDING,
    deadline: Deadline | None = None,
    tls_context: Callable[[], ssl.SSLContext] | None = None,
    fresh_token: bool = False,
) -> SMTPOverSocket:
    """Connect to the mail server, greet it, start TLS and log in, as the settings say.

    The connection goes to an address that passed check_destination(), verifies TLS with the
    configured CA certificate, insists on STARTTLS when Enable TLS is on (nothing but EHLO and
    STARTTLS is said before the connection is encrypted) and logs in only when Use authentication
    is on: with the password, or with SASL XOAUTH2 and an access token (a new one when
    fresh_token is set, else one reused while it is fresh). A reused token the server refuses is
    dropped and a new one tried once. On failure everything opened so far is closed and
    MailStepError is raised.
    """
    timing = _Timing(config, deadline)
    make_context = tls_context or partial(ssl_context, config.ca_certificate)

    with _step(StepName.RESOLVE):
        addresses = resolve_within(config.host, config.port, timing.next_timeout())
    try:
        check_destination(config.host, addresses, port=config.port)
    except DestinationRefused as refused:
        # Where a refused name leads stays unsaid: the test mail must not map internal names.
        recorder.passed(
            StepName.RESOLVE,
            _("%(host)s leads to an address this installation may not connect to.")
            % {"host": config.host},
        )
        raise MailStepError(StepName.CONNECT, refused) from refused
    recorder.passed(
        StepName.RESOLVE,
        _("%(host)s is at %(addresses)s.")
        % {"host": config.host, "addresses": ", ".join(str(address) for address in addresses)},
    )

    with _step(StepName.CONNECT):
        timeout = timing.next_timeout()
        try:
            raw = open_socket(addresses, config.port, timeout)
        except (ConnectionRefusedError, ConnectionResetError, TimeoutError) as error:
            raise NotAMailServer() from error

    smtp: SMTPOverSocket | None = None
    try:
        with _step(StepName.CONNECT):
            if deadline is not None:
                deadline.watch(raw)
            connected = _("Connected to %(address)s port %(port)s.") % {
                "address": raw.getpeername()[0],
                "port": config.port,
            }

        with _until_greeted(recorder, connected):
            sock: socket.socket = raw
            if config.implicit_tls:
                with _step(StepName.TLS):
                    config.check_tls_choice()
                    context = make_context()
                    timing.arm(raw)
                    try:
                        tls_socket = context.wrap_socket(raw, server_hostname=config.host)
                    except OSError as error:
                        if speaks_no_tls(error):
                            raise NotAMailServer() from error
                        raise
                    sock = tls_socket
                    recorder.passed(StepName.TLS, _tls_detail(tls_socket, config))
            elif not config.use_tls:
                recorder.not_used(
                    StepName.TLS,
                    _("Not used: Enable TLS is off, so the connection is not encrypted."),
                )

            with _step(StepName.GREETING):
                smtp = SMTPOverSocket(
                    sock,
                    host=config.host,
                    port=config.port,
                    local_hostname=config.greeting_name,
                    timeout=config.timeout_seconds,
                )
                timing.arm(smtp.sock)
                _code, banner = smtp.greet()
        with _step(StepName.GREETING):
            _hello(smtp, timing, helo_allowed=True)
            recorder.passed(
                StepName.GREETING,
                _("Greeted as %(name)s: %(reply)s")
                % {"name": config.greeting_name, "reply": reply_text(220, banner)},
            )

        if config.starttls:
            with _step(StepName.TLS):
                context = make_context()
                timing.arm(smtp.sock)
                # starttls() raises SMTPNotSupportedError when the server does not offer it,
                # before anything else is said: never fall back to an unencrypted login.
                smtp.starttls(context=context)
                _hello(smtp, timing, helo_allowed=False)
                upgraded = smtp.sock
                recorder.passed(
                    StepName.TLS,
                    _tls_detail(upgraded, config)
                    if isinstance(upgraded, ssl.SSLSocket)
                    else _("The connection is encrypted."),
                )

        if config.use_auth and not config.allow_insecure_login:
            _refuse_login_in_clear(smtp, config, recorder)
        if config.uses_oauth:
            _oauth_login(smtp, config, timing, recorder, deadline=deadline, fresh=fresh_token)
        elif config.use_auth:
            with _step(StepName.LOGIN):
                timing.arm(smtp.sock)
                smtp.login(config.username, config.password)
                recorder.passed(
                    StepName.LOGIN, _("Logged in as %(username)s.") % {"username": config.username}
                )
        else:
            recorder.not_used(StepName.LOGIN, _("Not used: Use authentication is off."))
    except BaseException:
        if smtp is not None:
            say_goodbye(smtp, deadline=deadline)
        raw.close()
        raise
    return smtp


@contextmanager
def _until_greeted(recorder: StepRecorder, connected: str) -> Iterator[None]:
    """Count the connection as made only once a mail server has answered on it.

    A port that refuses the connection, one that stays silent, and one where another service
    answers all fail the Connect step with NotAMailServer and the same words; a port where TLS or
    SMTP was spoken has a connection, and fails at the later step that went wrong.
    """
    try:
        yield
    except MailStepError as failure:
        if isinstance(failure.error, NotAMailServer):
            raise MailStepError(StepName.CONNECT, failure.error) from failure.error
        recorder.passed(StepName.CONNECT, connected)
        raise
    recorder.passed(StepName.CONNECT, connected)


def _refuse_login_in_clear(
    smtp: SMTPOverSocket, config: ServerConfig, recorder: StepRecorder
) -> None:
    """Raise at Log in, before any credential is sent, when the connection has no TLS.

    Whatever the settings say, the socket itself is asked: only a TLS socket carries a login,
    unless the administrator allowed login without TLS.
    """
    if isinstance(smtp.sock, ssl.SSLSocket):
        return
    if config.uses_oauth:
        recorder.not_used(
            StepName.TOKEN,
            _("Not fetched: an access token is not sent over a connection without TLS."),
        )
    with _step(StepName.LOGIN):
        raise LoginWithoutTLS(config.credential)


def _oauth_login(
    smtp: SMTPOverSocket,
    config: ServerConfig,
    timing: _Timing,
    recorder: StepRecorder,
    *,
    deadline: Deadline | None,
    fresh: bool,
) -> None:
    with _step(StepName.TOKEN):
        token = tokens.access_token(config, deadline=deadline, fresh=fresh)
        recorder.passed(StepName.TOKEN, token.detail)
    with _step(StepName.LOGIN):
        timing.arm(smtp.sock)
        offered = str(smtp.esmtp_features.get("auth", "")) if smtp.has_extn("auth") else ""
        if "XOAUTH2" not in offered.upper().split():
            raise tokens.XOAuth2NotOffered(offered.strip())
        try:
            _xoauth2(smtp, config.username, token)
        except smtplib.SMTPAuthenticationError:
            if not token.reused:
                raise
            # The token expired early or was revoked: forget it, and try once with a new one.
            tokens.drop(config)
            with _step(StepName.TOKEN):
                token = tokens.access_token(config, deadline=deadline, fresh=True)
            timing.arm(smtp.sock)
            _xoauth2(smtp, config.username, token)
        recorder.passed(
            StepName.LOGIN,
            _("Logged in as %(username)s with an access token (XOAUTH2).")
            % {"username": config.username},
        )


def _xoauth2(smtp: SMTPOverSocket, user: str, token: tokens.AccessToken) -> None:
    def respond(challenge: bytes | None = None) -> str:
        # A refusal comes as a challenge holding the error; the empty answer ends the exchange.
        return tokens.xoauth2_response(user, token) if challenge is None else ""

    smtp.auth("XOAUTH2", respond, initial_response_ok=True)


def _hello(smtp: SMTPOverSocket, timing: _Timing, *, helo_allowed: bool) -> None:
    """Say EHLO (or HELO to a server that knows no EHLO); raise SMTPHeloError if refused."""
    timing.arm(smtp.sock)
    code, reply = smtp.ehlo()
    if code != 250 and helo_allowed:
        timing.arm(smtp.sock)
        code, reply = smtp.helo()
    if code != 250:
        raise smtplib.SMTPHeloError(code, reply)


def send_message(
    smtp: smtplib.SMTP,
    config: ServerConfig,
    *,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
    recorder: StepRecorder = NO_RECORDING,
    deadline: Deadline | None = None,
) -> dict[str, tuple[int, bytes]]:
    """Send one message over an open connection; return the recipients the server refused.

    Like smtplib's sendmail(), it fails only when the server refuses the sender, every
    recipient, or the message, and then resets the transaction so the connection can carry the
    next message.
    """
    timing = _Timing(config, deadline)
    data = _with_crlf(message)
    utf8 = bool(smtp.does_esmtp and smtp.has_extn("smtputf8"))
    try:
        with _step(StepName.SENDER):
            envelope_sender = envelope_address(sender, smtputf8=utf8)
        with _step(StepName.RECIPIENT):
            envelope_recipients = [envelope_address(r, smtputf8=utf8) for r in recipients]
        return _transaction(
            smtp,
            timing,
            sender=envelope_sender,
            recipients=envelope_recipients,
            data=data,
            recorder=recorder,
        )
    finally:
        # smtplib switches to UTF-8 for SMTPUTF8 and never back; the next mail starts in ASCII.
        smtp.command_encoding = "ascii"


if TYPE_CHECKING:
    _EmailPolicy = email.policy.EmailPolicy[EmailMessage]
else:  # Not subscriptable at run time.
    _EmailPolicy = email.policy.EmailPolicy


class _ReusedHeaders(_EmailPolicy):
    """An email policy that parses and folds each distinct header value once per process.

    The headers of one kind of mail are nearly all alike (From, Subject in each language,
    Content-Type, Auto-Submitted...), and the standard library parses each one into a tree and
    folds the tree again for every message, the better part of the cost of writing a message.
    Both are pure functions of the header's name and text, so a header object is kept by its
    exact name and text (never by a normalised form) and reused, with its folded bytes kept on
    it. Values of other types (a Date given as a datetime) take the usual way.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is not str:
            return super().header_store_parse(name, value)
        return name, _parsed_header(self, name, value)

    def header_max_count(self, name: str) -> int | None:
        # The registry makes a new class for every lookup; each name's limit is looked up once.
        return _max_count(self.header_factory, name.lower())

    def fold_binary(self, name: str, value: Any) -> bytes:
        kept = getattr(value, "__dict__", None)
        if kept is None or getattr(value, "name", None) != name:
            return super().fold_binary(name, value)
        # The generator folds each part's headers with a copy of the policy (its own line
        # ending), so the folded bytes are kept by what folding depends on, not by the object.
        how = (self.linesep, self.max_line_length, self.utf8, self.refold_source, self.cte_type)
        folded: dict[tuple[Any, ...], bytes] = kept.setdefault("_autommate_folded", {})
        result = folded.get(how)
        if result is None:
            result = folded[how] = super().fold_binary(name, value)
        return result


# Enough for every recurring header of every kind of mail in every language; the values that
# differ for each message (To, Message-ID, boundaries) pass through and drop out first.
_PARSED_HEADERS_KEPT = 512


@functools.lru_cache(maxsize=_PARSED_HEADERS_KEPT)
def _parsed_header(policy: email.policy.EmailPolicy[EmailMessage], name: str, value: str) -> Any:
    return email.policy.EmailPolicy.header_store_parse(policy, name, value)[1]


@functools.lru_cache(maxsize=_PARSED_HEADERS_KEPT)
def _max_count(registry: Any, name: str) -> int | None:
    count: int | None = registry[name].max_count
    return count


_SMTP = _ReusedHeaders(linesep="\r\n")
_SMTPUTF8 = _SMTP.clone(utf8=True)


def header_policy(*addresses: str) -> email.policy.EmailPolicy[EmailMessage]:
    """Return the policy to write a message's headers with, for mail to and from `addresses`.

    An address with non-ASCII letters before the @ can only travel with SMTPUTF8, and its
    headers must then carry it as UTF-8 (RFC 6532): the ASCII policy would write the local part
    as an encoded word (`=?utf-8?q?ay=C5=9Fe?=@…`), which no mail program reads as an address.
    Every other mail keeps ASCII headers, its domains in punycode. A server without SMTPUTF8
    refuses such a mail before DATA (AddressNeedsSMTPUTF8), so the UTF-8 headers never reach it.
    """
    if any(not address.rpartition("@")[0].isascii() for address in addresses):
        return _SMTPUTF8
    return _SMTP


def envelope_address(address: str, *, smtputf8: bool) -> str:
    """Return `address` as the envelope carries it: the domain in its ASCII (punycode) form.

    A non-ASCII local part goes only to a server that offers SMTPUTF8 (and the mail then asks
    for it); for any other server AddressNeedsSMTPUTF8 is raised.
    """
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    if not local.isascii() and not smtputf8:
        raise AddressNeedsSMTPUTF8(address)
    if domain and not domain.isascii():
        domain = punycode(domain)
    return f"{local}@{domain}" if at else local


def _transaction(
    smtp: smtplib.SMTP,
    timing: _Timing,
    *,
    sender: str,
    recipients: Sequence[str],
    data: bytes,
    recorder: StepRecorder,
) -> dict[str, tuple[int, bytes]]:
    needs_utf8 = not all(address.isascii() for address in (sender, *recipients))
    with _step(StepName.SENDER):
        options = [f"size={len(data)}"] if smtp.does_esmtp and smtp.has_extn("size") else []
        if needs_utf8:
            options.append("SMTPUTF8")
        timing.arm(smtp.sock)
        code, reply = smtp.mail(sender, options)
        if code != 250:
            _end_transaction(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        recorder.passed(StepName.SENDER, f"{sender}: {reply_text(code, reply)}")

    with _step(StepName.RECIPIENT):
        accepted: list[str] = []
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in recipients:
            timing.arm(smtp.sock)
            code, reply = smtp.rcpt(recipient)
            if code in (250, 251):
                accepted.append(f"{recipient}: {reply_text(code, reply)}")
                continue
            refused[recipient] = (code, reply)
            if code == 421:
                smtp.close()
                raise smtplib.SMTPRecipientsRefused(refused)
        if len(refused) == len(recipients):
            _end_transaction(smtp, code)
            raise smtplib.SMTPRecipientsRefused(refused)
        recorder.passed(StepName.RECIPIENT, "; ".join(accepted))

    with _step(StepName.MESSAGE):
        timing.arm(smtp.sock)
        code, reply = smtp.data(data)
        if code != 250:
            _end_transaction(smtp, code)
            raise smtplib.SMTPDataError(code, reply)
        recorder.passed(StepName.MESSAGE, reply_text(code, reply))
    return refused


def _end_transaction(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal, reset the transaction, or close when the server is shutting down (421)."""
    if code == 421:
        smtp.close()
        return
    with suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


def say_goodbye(smtp: smtplib.SMTP, *, deadline: Deadline | None = None) -> None:
    """Say QUIT if there is time left, and close the connection whatever happens."""
    try:
        if smtp.sock is not None:
            left = deadline.next_timeout(QUIT_TIMEOUT_SECONDS) if deadline else None
            smtp.sock.settimeout(min(left or QUIT_TIMEOUT_SECONDS, QUIT_TIMEOUT_SECONDS))
            smtp.quit()
    except (OSError, smtplib.SMTPException, ValueError):
        pass
    finally:
        smtp.close()


def converse(
    config: ServerConfig,
    *,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
    recorder: StepRecorder,
    deadline: Deadline,
) -> None:
    """Hold one whole conversation within the deadline: connect, send one message, say goodbye."""
    smtp = open_connection(config, recorder=recorder, deadline=deadline, fresh_token=True)
    try:
        send_message(
            smtp,
            config,
            sender=sender,
            recipients=recipients,
            message=message,
            recorder=recorder,
            deadline=deadline,
        )
    finally:
        say_goodbye(smtp, deadline=deadline)


def _with_crlf(message: bytes) -> bytes:
    """Return the message with CRLF line endings, as SMTP requires.

    smtplib sends bytes as they are, and a message flattened with the default email policy ends
    its lines with a bare LF, which servers reject (as one overlong line, or as a smuggling risk).
    """
    return _BARE_LF.sub(b"\r\n", message)


def _tls_detail(sock: ssl.SSLSocket, config: ServerConfig) -> str:
    version = sock.version() or "TLS"
    cipher = sock.cipher()
    if cipher:
        return _("%(version)s, %(cipher)s; the certificate is valid for %(host)s.") % {
            "version": version,
            "cipher": cipher[0],
            "host": config.host,
        }
    return _("%(version)s; the certificate is valid for %(host)s.") % {
        "version": version,
        "host": config.host,
    }
