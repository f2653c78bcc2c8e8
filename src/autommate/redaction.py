"""Keep secrets that travel in URLs (reset links, delivery confirmation links) out of logs."""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRET_PATHS = re.compile(r"(/(?:reset-password|settings/mail/confirm)/)[^/\s\"'?#]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Replace the token part of any reset or confirmation link in `text`."""
    return _SECRET_PATHS.sub(rf"\g<1>{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    """A logging filter that redacts link tokens from the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            # The message as it will be written: a token may be split between the format and
            # its arguments ("/reset-password/%s/").
            record.msg, record.args = redact(record.getMessage()), None
        except (TypeError, ValueError):  # Arguments that do not fit: redact each part.
            if isinstance(record.msg, str):
                record.msg = redact(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        # The event's own fields too: the JSON format writes each of them.
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in {"msg", "message"}:
                setattr(record, name, redact(value))
        return True


def redact_access_atoms(atoms: dict[str, Any]) -> dict[str, Any]:
    """Redact every field of a gunicorn access-log entry (request line, path, referrer…)."""
    return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
