"""Log lines: readable text by default, one JSON object a line with `AUTOMMATE_LOG_FORMAT=json`.

Every line written while a request is served carries its request id: `X-Request-ID` from a
trusted proxy (`AUTOMMATE_TRUSTED_PROXIES` above 0), or one generated here. The id is sent back
in the answer's `X-Request-ID`, where gunicorn's access line reads it, and the audit event of the
request records it.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

LOG_FORMAT_VARIABLE = "AUTOMMATE_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
HEADER = "X-Request-ID"
# What a proxy's id may look like: no spaces, quotes or control characters for a log to carry.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def log_format() -> str:
    """Return the configured log format, `text` unless `AUTOMMATE_LOG_FORMAT` says `json`."""
    return os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() or "text"


def current_request_id() -> str | None:
    """Return the id of the request being served in this thread, or None outside a request."""
    return _current.get()


class RequestIdFilter(logging.Filter):
    """Give every record the id of the request it was written in (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return True


class TextFormatter(logging.Formatter):
    """The readable line, ending with the request id when it was written in a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time, level, logger, message, request id and the event's fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def formatter() -> logging.Formatter:
    """Return the formatter of the configured log format (for processes Django does not set up)."""
    return JsonFormatter() if log_format() == "json" else TextFormatter()


class RequestIdMiddleware:
    """Name each request: a trusted proxy's `X-Request-ID`, or a new id; send it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = self._from_proxy(request) or uuid.uuid4().hex
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response

    @staticmethod
    def _from_proxy(request: HttpRequest) -> str | None:
        # Imported here: the web server's arbiter and the supervisor format log lines with this
        # module and never load Django.
        from django.conf import settings

        if settings.TRUSTED_PROXIES <= 0:
            return None  # Without a proxy in front, the header is the client's to choose.
        given = request.headers.get(HEADER, "").strip()
        return given if _VALID_ID.match(given) else None
