"""How each kind of outgoing message is turned into an email at send time.

The mail log stores no body, token or link, so a message is composed again at each attempt from
its kind, recipient and non-secret context. Each domain registers the composer for its kinds.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMultiAlternatives

if TYPE_CHECKING:
    from .models import OutgoingMessage

Composer = Callable[["OutgoingMessage"], EmailMultiAlternatives]

_composers: dict[str, Composer] = {}

# How long a delivery round keeps a setting it read for its composers (`round_value`): a change
# saved by an administrator reaches the mail composed after this at the latest, as it reaches
# the round's connections when the next round opens them.
ROUND_VALUE_SECONDS = 5.0
# The values of the round running in this context: name -> (read at, value).
_RoundValues = dict[str, tuple[float, Any]]
_round_values: contextvars.ContextVar[_RoundValues | None] = contextvars.ContextVar(
    "round_values", default=None
)


class DoNotSend(Exception):
    """The message must not be sent any more (a reset link expired before it could go out)."""


def register(kind: str) -> Callable[[Composer], Composer]:
    def decorator(composer: Composer) -> Composer:
        _composers[kind] = composer
        return composer

    return decorator


@contextmanager
def composing_round() -> Iterator[None]:
    """Let the composers of the messages composed inside share what they read (`round_value`)."""
    token = _round_values.set({})
    try:
        yield
    finally:
        _round_values.reset(token)


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
