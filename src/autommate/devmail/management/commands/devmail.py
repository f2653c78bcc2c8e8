"""`autommate devmail`: an SMTP server for development that keeps every message it receives."""

from __future__ import annotations

import asyncio
import logging
import signal
from argparse import ArgumentParser
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from autommate.devmail import store

logger = logging.getLogger("autommate.devmail")


class CatcherHandler:
    """Accept every message and store it for the /dev/mail/ pages."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message_id = store.save_message(
            envelope.original_content or b"",
            mail_from=envelope.mail_from or "",
            rcpt_tos=envelope.rcpt_tos,
        )
        logger.info("Caught a message from %s to %s", envelope.mail_from, envelope.rcpt_tos)
        return f"250 Message accepted as {message_id}"


def accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accept any user name and password, so "Use authentication" can be tried against it."""
    return AuthResult(success=True)


def catcher_protocol() -> SMTP:
    """Return the SMTP conversation for one connection to the catcher.

    It offers what a submission server offers, minus TLS: AUTH on the plain connection, where
    any credentials are accepted.
    """
    return SMTP(
        CatcherHandler(),
        hostname="autommate-devmail",
        authenticator=accept_any_login,
        auth_require_tls=False,
        enable_SMTPUTF8=True,
    )


class _HideLoginDataNotice(logging.Filter):
    """Drop aiosmtpd's notice, logged on every successful AUTH, about its own deprecated field."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


class Command(BaseCommand):
    help = (
        "Run the development mail catcher: an SMTP server that accepts every message (and any "
        "credentials) and shows them at /dev/mail/ while AUTOMMATE_DEBUG is on."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=settings.DEV_MAIL_HOST, help="address to listen on")
        parser.add_argument(
            "--port", type=int, default=settings.DEV_MAIL_PORT, help="port to listen on"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("mail.log").addFilter(_HideLoginDataNotice())
        asyncio.run(self._catch(options["host"], options["port"]))

    async def _catch(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(catcher_protocol, host, port)
        except OSError as error:
            raise CommandError(
                f"The mail catcher cannot listen on {host}:{port}: {error.strerror or error}"
            ) from None
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        self.stdout.write(
            f"Mail catcher listening on {host}:{port}, keeping messages in {settings.DEV_MAIL_DIR}"
        )
        self.stdout.flush()
        await stop.wait()
        # Stop listening without waiting for clients to hang up, which may never happen;
        # asyncio.run then cancels the open conversations. A message not fully received was
        # not accepted, so nothing is lost.
        server.close()
