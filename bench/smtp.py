"""A mail server for the benchmark: aiosmtpd on 127.0.0.1 that takes its time over each message.

It runs in a process of its own, as a real mail server would: in the benchmark's process its
work would take the interpreter lock from the load generator's clients and add to the latencies
they measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

START_TIMEOUT_SECONDS = 10.0


class SlowMailServer:
    """Accept every message after `delay_seconds`; count messages and connections.

    The delay is awaited, so the server handles any number of conversations at once, as a real
    mail server does; only each conversation waits. The counts are read from the server's
    process on each access.
    """

    host = "127.0.0.1"

    def __init__(self, *, delay_seconds: float) -> None:
        self._delay_seconds = delay_seconds
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.port = 0

    def start(self) -> SlowMailServer:
        # Forked, not spawned: spawning would run the calling script again in the new process.
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(theirs, self._delay_seconds), name="bench-smtp", daemon=True
        )
        self._process.start()
        theirs.close()
        if not ours.poll(START_TIMEOUT_SECONDS):
            self._process.kill()
            raise RuntimeError("the benchmark's mail server did not start")
        self.port = ours.recv()
        self._connection = ours
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(EOFError, OSError):  # It has gone already.
            self._ask("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
        self._process = None

    def _ask(self, command: str, argument: Any = None) -> Any:
        assert self._connection is not None, "the mail server is not started"
        with self._lock:
            self._connection.send((command, argument))
            return self._connection.recv()

    @property
    def delay_seconds(self) -> float:
        return self._delay_seconds

    @delay_seconds.setter
    def delay_seconds(self, seconds: float) -> None:
        self._delay_seconds = seconds
        if self._connection is not None:
            self._ask("delay", seconds)

    @property
    def messages(self) -> int:
        messages: int = self._ask("counts")[0]
        return messages

    @property
    def connections(self) -> int:
        connections: int = self._ask("counts")[1]
        return connections

    @property
    def recipients(self) -> list[str]:
        recipients: list[str] = self._ask("recipients")
        return recipients

    @property
    def accepted_at(self) -> list[float]:
        """When each message was accepted, by `time.monotonic()` (one clock for all processes)."""
        accepted_at: list[float] = self._ask("accepted_at")
        return accepted_at

    def reset_counts(self) -> None:
        self._ask("reset")


class _Counts:
    def __init__(self, delay_seconds: float) -> None:
        self.delay_seconds = delay_seconds
        self.messages = 0
        self.connections = 0
        self.recipients: list[str] = []
        self.accepted_at: list[float] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.messages = 0
            self.connections = 0
            self.recipients = []
            self.accepted_at = []

    def connected(self) -> None:
        with self.lock:
            self.connections += 1

    def received(self, envelope: Envelope) -> None:
        with self.lock:
            self.messages += 1
            self.recipients.extend(envelope.rcpt_tos)
            self.accepted_at.append(time.monotonic())


def _serve(connection: Connection, delay_seconds: float) -> None:
    """The mail server's process: serve SMTP, and answer the benchmark's questions."""
    counts = _Counts(delay_seconds)
    controller = _Controller(counts)
    controller.start()
    counts.reset()  # The controller's own readiness check connected once.
    connection.send(controller.port)
    try:
        while True:
            command, argument = connection.recv()
            if command == "stop":
                connection.send(None)
                return
            if command == "delay":
                counts.delay_seconds = argument
                connection.send(None)
            elif command == "reset":
                counts.reset()
                connection.send(None)
            elif command == "counts":
                with counts.lock:
                    connection.send((counts.messages, counts.connections))
            elif command == "recipients":
                with counts.lock:
                    connection.send(list(counts.recipients))
            elif command == "accepted_at":
                with counts.lock:
                    connection.send(list(counts.accepted_at))
            else:
                raise ValueError(f"unknown command {command!r}")
    except EOFError:
        return  # The benchmark ended without stopping the server.
    finally:
        controller.stop()


class _Handler:
    def __init__(self, counts: _Counts) -> None:
        self.counts = counts

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.counts.delay_seconds:
            await asyncio.sleep(self.counts.delay_seconds)
        self.counts.received(envelope)
        return "250 2.0.0 OK: queued"


class _Controller(Controller):
    def __init__(self, counts: _Counts) -> None:
        self.counts = counts
        self.port = 0
        super().__init__(
            _Handler(counts),
            hostname=SlowMailServer.host,
            port=0,
            server_hostname="localhost",
            ready_timeout=5.0,
        )

    def factory(self) -> SMTP:
        self.counts.connected()
        return SMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 lets the system choose; readiness is checked on the port it chose.
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]
