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
from django.utils.functional import cached_property

from . import connection
from .connection import (
    ConflictingTLSSettings,
    InvalidCACertificate,
    LoginWithoutTLS,
    MailServerNotConfigured,
    ServerConfig,
    load_saved_config,
)
from .conversation import header_policy, open_connection, say_goodbye, send_message
from .destinations import DestinationRefused
from .steps import MailStepError, StepName

__all__ = ["LastWorkingBackend", "MailServerBackend", "MailServerNotConfigured"]

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
    LoginWithoutTLS,
)
# What interrupts a message rather than refusing it.
_LOST = (TimeoutError, ConnectionError, ssl.SSLError, smtplib.SMTPServerDisconnected)


class MailServerBackend(EmailBackend):
    """Django's SMTP backend, configured from the saved mail server settings.

    Pass config=ServerConfig(...) to send through other settings (used by tests and by tools that
    try settings before they are saved). It connects and sends through the same conversation as
    the test mail (conversation.py), and raises the errors of smtplib and the socket as Django's
    backend does; explain() tells at which step they happened.
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
        # What the mail was sent through, for delivery to report with each acceptance: the
        # fingerprint of the settings loaded here (empty for a config given by the caller).
        self.sent_through = ""
        if config is None:
            config, self.sent_through = self._load()
        self.config = config
        self._senders_prepared: dict[str, str] = {}
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

    @staticmethod
    def _load() -> tuple[ServerConfig, str]:
        """Return the config to send with, and the fingerprint of the settings it comes from."""
        from .selectors import mail_server_get

        config = load_saved_config()
        return config, mail_server_get().fingerprint_if_readable()

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
            self.connection = open_connection(self.config, tls_context=lambda: self.ssl_context)
        except MailStepError as failure:
            if self.fail_silently and isinstance(failure.error, _CONNECTION_ERRORS):
                return None
            failure.raise_original()
        return True

    def _prepared_sender(self, from_email: str) -> str:
        # Every mail a connection sends has the same From: its address is parsed once.
        prepared = self._senders_prepared.get(from_email)
        if prepared is None:
            prepared = self.prep_address(from_email, force_ascii=False)
            self._senders_prepared = {from_email: prepared}
        return prepared

    def _close_connection(self, connection: smtplib.SMTP) -> None:
        say_goodbye(connection)

    def _send(self, email_message: EmailMessage) -> bool:
        if not email_message.recipients():
            return False
        # The conversation puts the domains in punycode, or asks for SMTPUTF8 where it must.
        sender = self._prepared_sender(email_message.from_email)
        recipients = [
            self.prep_address(address, force_ascii=False) for address in email_message.recipients()
        ]
        policy = header_policy(sender, *recipients)
        message = email_message.message(policy=policy).as_bytes()
        assert self.connection is not None  # send_messages() opens it before sending.
        try:
            send_message(
                self.connection, self.config, sender=sender, recipients=recipients, message=message
            )
        except MailStepError as failure:
            if self.fail_silently and isinstance(failure.error, smtplib.SMTPException):
                return False
            if failure.step != StepName.MESSAGE and isinstance(failure.error, _LOST):
                # The mail log tells a timeout or lost connection while sending as a failure of
                # the message, whichever command of the message it interrupted.
                failure = MailStepError(StepName.MESSAGE, failure.error)
            failure.raise_original()
        return True

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        try:
            return super().send_messages(email_messages)
        except smtplib.SMTPServerDisconnected:
            # The server dropped a connection kept open between calls; the next call must open a
            # new one rather than write into the closed one.
            self.connection = None
            raise


class LastWorkingBackend(MailServerBackend):
    """Sends through the last mail settings that worked (the MAILERS alias `last_working`).

    The alert to administrators takes this way when the saved settings fail for good: it
    reaches them through the settings that delivered mail before the change that broke it.
    """

    @staticmethod
    def _load() -> tuple[ServerConfig, str]:
        from .selectors import last_working_get

        last = last_working_get()
        if last is None:
            raise MailServerNotConfigured(
                "No mail settings have delivered a mail yet, so there are no last working "
                "settings to send through."
            )
        return ServerConfig.from_values(last.mail_server, secrets=last.secrets), last.fingerprint
