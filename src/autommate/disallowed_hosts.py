"""Requests for a host the server does not serve, in the log: one WARNING line, now and then.

Django logs every request whose `Host` is not in `ALLOWED_HOSTS` at ERROR, with a traceback, on
`django.security.DisallowedHost`. Scanners send such requests all day; each is already answered
400 and needs nobody's action, so a line at ERROR with a traceback for each one buries the errors
that do. This filter turns them into one WARNING line per host and minute, at most a few lines a
minute in all, each saying how many were left out since the line before.
"""

from __future__ import annotations

import logging
import threading
import time

INTERVAL_SECONDS = 60.0
# However many different hosts are sent, the log gets at most this many lines an interval.
LINES_PER_INTERVAL = 10
HOST_CHARS = 100


class DisallowedHostOnce(logging.Filter):
    """Let one line per host and interval through, as a WARNING without a traceback."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every host seen and every line left out."""
        with self._lock:
            self._logged: dict[str, float] = {}
            self._interval_started = float("-inf")
            self._lines = 0
            self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        host = _host_of(record)
        now = time.monotonic()
        with self._lock:
            if now - self._interval_started >= INTERVAL_SECONDS:
                self._interval_started, self._lines = now, 0
                self._logged = {
                    seen: at for seen, at in self._logged.items() if now - at < INTERVAL_SECONDS
                }
            last = self._logged.get(host)
            recent = last is not None and 0 <= now - last < INTERVAL_SECONDS
            if recent or self._lines >= LINES_PER_INTERVAL:
                self._left_out += 1
                return False
            self._logged[host] = now
            self._lines += 1
            left_out, self._left_out = self._left_out, 0
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info = record.exc_text = record.stack_info = None
        message = "Refused a request for the host %r, which is not an allowed host (answered 400)."
        if left_out:
            message += f" {left_out} more refused since the last such line."
        record.msg, record.args = message, (host[:HOST_CHARS],)
        return True


def _host_of(record: logging.LogRecord) -> str:
    request = getattr(record, "request", None)
    meta = getattr(request, "META", None) or {}
    return str(meta.get("HTTP_HOST") or meta.get("SERVER_NAME") or "")
