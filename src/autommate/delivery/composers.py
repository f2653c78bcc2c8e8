"""How each kind of outgoing message is turned into an email at send time.

The mail log stores no body, token or link, so a message is composed again at each attempt from
its kind, recipient and non-secret context. Each domain registers the composer for its kinds.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMultiAlternatives
from django.db import DatabaseError

if TYPE_CHECKING:
    from .models import OutgoingMessage

logger = logging.getLogger(__name__)

Composer = Callable[["OutgoingMessage"], EmailMultiAlternatives]
# Does for a batch of messages of one kind at once what their composer would do for each, and
# returns, by message id, what the composer takes instead (`prepared`).
Preparer = Callable[[list["OutgoingMessage"]], dict[int, Any]]

_composers: dict[str, Composer] = {}
_preparers: dict[str, Preparer] = {}

# How long a delivery round keeps a setting it read for its composers (`round_value`): a change
# saved by an administrator reaches the mail composed after this at the latest, as it reaches
# the round's connections when the next round opens them.
ROUND_VALUE_SECONDS = 5.0
# The values of the round running in this context: name -> (read at, value).
_RoundValues = dict[str, tuple[float, Any]]
_round_values: contextvars.ContextVar[_RoundValues | None] = contextvars.ContextVar(
    "round_values", default=None
)
# What the preparers of the round running in this context prepared: message id -> value.
_round_prepared: contextvars.ContextVar[dict[int, Any] | None] = contextvars.ContextVar(
    "round_prepared", default=None
)


class DoNotSend(Exception):
    """The message must not be sent any more (a reset link expired before it could go out)."""


def register(kind: str) -> Callable[[Composer], Composer]:
    def decorator(composer: Composer) -> Composer:
        _composers[kind] = composer
        return composer

    return decorator


def register_preparer(kind: str) -> Callable[[Preparer], Preparer]:
    def decorator(preparer: Preparer) -> Preparer:
        _preparers[kind] = preparer
        return preparer

    return decorator


@contextmanager
def composing_round() -> Iterator[None]:
    """Let the composers of the messages composed inside share what they read (`round_value`),
    and take what was prepared for their message (`prepare`, `prepared`)."""
    values = _round_values.set({})
    prepared = _round_prepared.set({})
    try:
        yield
    finally:
        _round_prepared.reset(prepared)
        _round_values.reset(values)


def prepare(messages: list[OutgoingMessage]) -> None:
    """Before a batch is composed in a round: let each kind's preparer do for its messages at
    once what the composer would do for each alone (the links of reset mails issued in one write
    transaction instead of one per mail). Outside a round it does nothing.

    A preparer that fails prepares nothing: each composer then does its own work, and meets the
    same fault there, for its message alone. A database error is left to the delivery.
    """
    store = _round_prepared.get()
    if store is None:
        return
    by_kind: dict[str, list[OutgoingMessage]] = {}
    for message in messages:
        if message.kind in _preparers:
            by_kind.setdefault(message.kind, []).append(message)
    for kind, group in by_kind.items():
        try:
            store.update(_preparers[kind](group))
        except DatabaseError:
            raise
        except Exception:
            logger.exception("Could not prepare %d messages of kind %s", len(group), kind)


def prepared(message: OutgoingMessage) -> Any | None:
    """Return, once, what was prepared for `message` in this round; None if nothing was."""
    store = _round_prepared.get()
    return None if store is None else store.pop(message.pk, None)


def round_value[T](name: str, read: Callable[[], T]) -> T:
    """Return `read()`, read at most once per ROUND_VALUE_SECONDS within a delivery round.

    For settings every mail of a round needs alike (the sender, a link lifetime), never for
    anything of one recipient: `name` alone is the key. Outside a round it reads every time.
    """
    values = _round_values.get()
    if values is None:
        return read()
    now = time.monotonic()
    kept = values.get(name)
    if kept is not None and now - kept[0] < ROUND_VALUE_SECONDS:
        value: T = kept[1]
        return value
    value = read()
    values[name] = (now, value)
    return value


def compose(message: OutgoingMessage) -> EmailMultiAlternatives:
    try:
        composer = _composers[message.kind]
    except KeyError:
        raise DoNotSend(f"No composer for messages of kind {message.kind!r}.") from None
    return composer(message)
