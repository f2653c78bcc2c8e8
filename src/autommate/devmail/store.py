"""Mail caught in development, kept as one .eml file per message under DEV_MAIL_DIR.

The catcher (`autommate devmail`) writes; the pages read. Files rather than database rows keep
the catcher independent of migrations and let a developer open a message in any mail program.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings
from django.utils import timezone

KEEP_MESSAGES = 500
# The receiving time to the microsecond, then random bits so two messages in the same
# microsecond do not collide: 20250301T142501123456-9f86d081. Sorting the names sorts by time.
_ID_TIME_FORMAT = "%Y%m%dT%H%M%S%f"
MESSAGE_ID = re.compile(r"\A[0-9]{8}T[0-9]{12}-[0-9a-f]{8}\Z")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def _directory() -> Path:
    return Path(settings.DEV_MAIL_DIR)


def _one_line(value: str) -> str:
    return re.sub(r"[\r\n]+", " ", value)


def save_message(raw: bytes, *, mail_from: str, rcpt_tos: Sequence[str]) -> str:
    """Store a received message with its envelope, drop the oldest beyond the limit, return its id.

    The envelope goes in as `Return-Path` and `X-Original-To` headers, as a delivering mail
    server would add them, so blind copies show whom the message was really sent to.
    """
    directory = _directory()
    directory.mkdir(parents=True, exist_ok=True)
    message_id = f"{timezone.now():{_ID_TIME_FORMAT}}-{secrets.token_hex(4)}"
    trace = (
        f"Return-Path: <{_one_line(mail_from)}>\r\n"
        f"X-Original-To: {_one_line(', '.join(rcpt_tos))}\r\n"
    ).encode()
    # Written aside and renamed, so a page never reads half a message.
    partial = directory / f".{message_id}.partial"
    partial.write_bytes(trace + raw)
    os.replace(partial, directory / f"{message_id}.eml")
    for old in _message_ids(directory)[KEEP_MESSAGES:]:
        (directory / f"{old}.eml").unlink(missing_ok=True)
    return message_id


def _message_ids(directory: Path) -> list[str]:
    """Return the ids of the stored messages, newest first."""
    if not directory.is_dir():
        return []
    ids = (path.stem for path in directory.glob("*.eml"))
    return sorted((i for i in ids if MESSAGE_ID.match(i)), reverse=True)


def list_messages() -> list[CaughtMessage]:
    """Return the stored messages, newest first, with their headers only."""
    directory = _directory()
    caught = []
    for message_id in _message_ids(directory):
        try:
            with (directory / f"{message_id}.eml").open("rb") as file:
                headers = BytesParser(policy=policy.default).parse(file, headersonly=True)
        except FileNotFoundError:  # Pruned by the catcher since the directory was listed.
            continue
        caught.append(CaughtMessage(message_id, headers))
    return caught


def get_message(message_id: str) -> CaughtMessage | None:
    """Return one stored message, or None for an unknown or malformed id."""
    # The id becomes part of a path: only the exact shape the catcher writes is accepted.
    if not MESSAGE_ID.match(message_id):
        return None
    try:
        raw = (_directory() / f"{message_id}.eml").read_bytes()
    except FileNotFoundError:
        return None
    return CaughtMessage(message_id, BytesParser(policy=policy.default).parsebytes(raw))


@dataclass(frozen=True)
class CaughtMessage:
    """A stored message and what the pages show of it."""

    id: str
    message: Message

    @property
    def received_at(self) -> datetime:
        stamp = self.id.partition("-")[0]
        return datetime.strptime(stamp, _ID_TIME_FORMAT).replace(tzinfo=UTC)

    @property
    def sender(self) -> str:
        return self._header("From") or self._header("Return-Path")

    @property
    def recipients(self) -> str:
        return self._header("To") or self._header("X-Original-To")

    @property
    def subject(self) -> str:
        return self._header("Subject")

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(name, str(value)) for name, value in self.message.items()]

    @cached_property
    def text(self) -> str | None:
        return self._body("plain")

    @cached_property
    def html(self) -> str | None:
        return self._body("html")

    @cached_property
    def links(self) -> list[str]:
        """Return the web links in the message, HTML part first, each once."""
        found = []
        if self.html is not None:
            collector = _LinkCollector()
            collector.feed(self.html)
            found += collector.links
        if self.text is not None:
            found += [url.rstrip(".,;:!?)]") for url in _URL_IN_TEXT.findall(self.text)]
        return list(dict.fromkeys(found))

    def _header(self, name: str) -> str:
        return str(self.message.get(name, "")).strip()

    def _body(self, subtype: str) -> str | None:
        if not isinstance(self.message, EmailMessage):
            return None
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        try:
            content = part.get_content()
        except (LookupError, ValueError):
            # An unknown or wrong charset: show what can be read rather than nothing.
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        return content if isinstance(content, str) else None


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in {"a", "area"}:
            return
        href = (dict(attrs).get("href") or "").strip()
        # Only web links: a javascript: or data: address must not become clickable here.
        if href.lower().startswith(("http://", "https://")):
            self.links.append(href)
