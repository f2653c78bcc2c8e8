"""The Django mail backend that sends through the mail server saved on the mail settings page.

MAILERS names it as the default mailer, and callers use `django.core.mail.mailers.default`. Each
instance reads the saved settings when it is created, so a change on the settings page applies
to the next message without a restart.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from typing import Any

from django.core.mail import InvalidMailer
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.handler import DEFAULT_MAILER_ALIAS
from django.core.mail.message import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.utils.functional import cached_property

from . import connection
from .connection import (
    ConflictingTLSSettings,
    InvalidCACertificate,
    MailServerNotConfigured,
    ServerConfig,
    SMTPOverSocket,
    load_saved_config,
    open_socket,
    resolve,
)
from .destinations import DestinationRefused, check_destination
from .diagnosis import StepName, at_step, mark_step, step_of

__all__ = ["MailServerBackend", "MailServerNotConfigured"]

# Connection options belong on the mail settings page, not in MAILERS; accepting them here would
# let the two disagree silently.
_SETTINGS_PAGE_OPTIONS = {
    "host",
    "port",
    "username",
    "password",
    "use_tls",
    "use_ssl",
    "timeout",
    "ssl_keyfile",
    "ssl_certfile",
}

# What open() turns into a silent failure when fail_silently is set, as Django's backend does
# for OSError (smtplib's and ssl's errors are OSErrors too).
_CONNECTION_ERRORS = (
    OSError,
    DestinationRefused,
    ConflictingTLSSettings,
    InvalidCACertificate,
)


class MailServerBackend(EmailBackend):
    """Django's SMTP backend, configured from the saved mail server settings.

    Pass config=ServerConfig(...) to send through other settings (used by tests and by tools that
    try settings before they are saved). The connection goes to an address that passed
    check_destination(), verifies TLS with the configured CA certificate, insists on STARTTLS
    when Enable TLS is on (no login and no message over an unencrypted connection), and logs in
    only when Use authentication is on.
    """

    def __init__(
        self,
        *,
        config: ServerConfig | None = None,
        alias: str | None = None,
        **kwargs: Any,
    ) -> None:
        clashing = sorted(_SETTINGS_PAGE_OPTIONS & kwargs.keys())
        if clashing:
            raise InvalidMailer(
                f"Options {', '.join(clashing)} come from the mail settings page, not from "
                "MAILERS.",
                alias=alias or DEFAULT_MAILER_ALIAS,
            )
        self.config = load_saved_config() if config is None else config
        super().__init__(
            host=self.config.host,
            port=self.config.port,
            username=self.config.username if self.config.use_auth else "",
            password=self.config.password if self.config.use_auth else "",
            use_tls=self.config.starttls,
            use_ssl=self.config.implicit_tls,
            timeout=self.config.socket_timeout,
            # Django treats a backend without an alias as built from the deprecated EMAIL_*
            # settings; this one never is, however it was created.
            alias=alias or DEFAULT_MAILER_ALIAS,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.host}:{self.config.port}>"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        return connection.ssl_context(self.config.ca_certificate)

    def open(self) -> bool | None:
        """Open the connection unless one is open; return True when a new one was opened."""
        if self.connection:
            return False
        try:
            self.connection = self._connect()
        except _CONNECTION_ERRORS:
            if not self.fail_silently:
                raise
            return None
        return True

    def _connect(self) -> SMTPOverSocket:
        config = self.config
        with at_step(StepName.TLS):
            config.check_tls_choice()
        with at_step(StepName.RESOLVE):
            addresses = resolve(config.host, config.port)
        with at_step(StepName.CONNECT):
            check_destination(config.host, addresses)
            sock = open_socket(addresses, config.port, config.socket_timeout)
        try:
            if config.implicit_tls:
                with at_step(StepName.TLS):
                    sock = self.ssl_context.wrap_socket(sock, server_hostname=config.host)
            smtp = SMTPOverSocket(
                sock,
                host=config.host,
                port=config.port,
                local_hostname=DNS_NAME.get_fqdn(),
                timeout=config.timeout_seconds,
            )
        except BaseException:
            sock.close()
            raise
        try:
            with at_step(StepName.GREETING):
                smtp.greet()
                smtp.ehlo_or_helo_if_needed()
            if config.starttls:
                with at_step(StepName.TLS):
                    # starttls() raises SMTPNotSupportedError when the server does not offer
                    # it, before anything else is said: never fall back to an unencrypted login.
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
            if config.use_auth:
                with at_step(StepName.LOGIN):
                    smtp.login(config.username, config.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        try:
            return super().send_messages(email_messages)
        except Exception as error:
            if isinstance(error, smtplib.SMTPServerDisconnected):
                # The server dropped a connection kept open between calls; the next call must
                # open a new one rather than write into the closed one.
                self.connection = None
            lost = (TimeoutError, ConnectionError, ssl.SSLError, smtplib.SMTPServerDisconnected)
            if step_of(error) is None and isinstance(error, lost):
                # A timeout or lost connection while sending belongs to the message step.
                mark_step(error, StepName.MESSAGE)
            raise
