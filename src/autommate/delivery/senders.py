"""Threads that each own one SMTP connection and send what they are handed, concurrently.

The SMTP conversation blocks, so a worker that sends over several connections at once gives
each connection a thread. The threads never touch the database: the worker claims, composes and
records on its own thread, and hands the senders ready messages (`submit`) and takes back each
outcome (`outcomes`) the moment the server answered, so the claim, lease and acceptance rules of
the queue stay in one place (`services.py`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.mail.message import EmailMessage

logger = logging.getLogger(__name__)


class Withdrawn(Exception):
    """The outcome of a message withdrawn before any connection started on it: not sent."""


@dataclass(frozen=True)
class Outcome:
    """What became of one handed-over message: accepted (`error` None) or the error raised.

    `pk` is the message's row; `message_id` the Message-ID header it was sent with.
    """

    pk: int
    error: BaseException | None
    message_id: str
    # What the backend says it sent through (its `sent_through`), passed on with acceptances.
    sent_through: str = ""


class SenderPool:
    """Up to `size` threads, each sending over its own connection, opened when first needed.

    `open_backend` makes a mail backend; it is called on the creating thread (it may read the
    saved settings from the database), once per sender. A backend may name what it sends
    through in `sent_through`, reported with each outcome.
    """

    def __init__(
        self,
        size: int,
        open_backend: Callable[[], Any],
        outcomes: queue.SimpleQueue[Outcome] | None = None,
    ) -> None:
        self._jobs: queue.SimpleQueue[tuple[int, EmailMessage] | None] = queue.SimpleQueue()
        # Several pools (one per mailer) may report into one queue.
        self.outcomes: queue.SimpleQueue[Outcome] = outcomes or queue.SimpleQueue()
        self._withdrawn: set[int] = set()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=self._run, args=(open_backend(),), name=f"sender-{number}", daemon=True
            )
            for number in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, pk: int, email: EmailMessage) -> None:
        """Hand `email`, the message of row `pk`, to the next free connection."""
        self._jobs.put((pk, email))

    def withdraw(self, pk: int) -> None:
        """Do not send the message of row `pk` if no connection has started on it yet.

        Its outcome is then `Withdrawn`.
        """
        with self._lock:
            self._withdrawn.add(pk)

    def close(self, timeout: float | None = None) -> None:
        """Let each sender finish the message it is on, send what is handed over, then QUIT."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, backend: Any) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                pk, email = job
                with self._lock:
                    if pk in self._withdrawn:
                        self._withdrawn.discard(pk)
                        self.outcomes.put(Outcome(pk, Withdrawn(), ""))
                        continue
                error = _send(backend, email)
                self.outcomes.put(
                    Outcome(
                        pk,
                        error,
                        email.extra_headers.get("Message-ID", ""),
                        str(getattr(backend, "sent_through", "") or ""),
                    )
                )
        finally:
            _close_quietly(backend)


def _send(backend: Any, email: EmailMessage) -> BaseException | None:
    try:
        backend.open()  # Opened once, the connection serves every message this sender takes.
        backend.send_messages([email])
    except Exception as error:  # Any failure of one message is its outcome, never raised.
        # The next message starts on a new connection rather than one in an unknown state.
        _close_quietly(backend)
        return error
    return None


def _close_quietly(backend: Any) -> None:
    # Django's backend forgets the connection even when QUIT fails, so the next open() is new.
    with contextlib.suppress(Exception):
        backend.close()
