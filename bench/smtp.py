"""A mail server for the benchmark: aiosmtpd on 127.0.0.1 that takes its time over each message."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class SlowMailServer:
    """Accept every message after `delay_seconds`; count messages and connections.

    The delay is awaited, so the server handles any number of conversations at once, as a real
    mail server does; only each conversation waits.
    """

    host = "127.0.0.1"

    def __init__(self, *, delay_seconds: float) -> None:
        self.delay_seconds = delay_seconds
        self.messages = 0
        self.connections = 0
        self.recipients: list[str] = []
        # When each message was accepted (time.monotonic()), for rates over time.
        self.accepted_at: list[float] = []
        self._lock = threading.Lock()
        self._controller = _Controller(self)
        self.port = 0

    def start(self) -> SlowMailServer:
        self._controller.start()
        self.port = self._controller.port
        self.reset_counts()  # The controller's own readiness check connected once.
        return self

    def stop(self) -> None:
        self._controller.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.messages = 0
            self.connections = 0
            self.recipients = []
            self.accepted_at = []

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    def _received(self, envelope: Envelope) -> None:
        with self._lock:
            self.messages += 1
            self.recipients.extend(envelope.rcpt_tos)
            self.accepted_at.append(time.monotonic())


class _Handler:
    def __init__(self, server: SlowMailServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.delay_seconds:
            await asyncio.sleep(self.server.delay_seconds)
        self.server._received(envelope)
        return "250 2.0.0 OK: queued"


class _Controller(Controller):
    def __init__(self, server: SlowMailServer) -> None:
        self.slow_server = server
        super().__init__(
            _Handler(server),
            hostname=SlowMailServer.host,
            port=0,
            server_hostname="localhost",
            ready_timeout=5.0,
        )

    def factory(self) -> SMTP:
        self.slow_server._connected()
        return SMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 lets the system choose; readiness is checked on the port it chose.
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]
