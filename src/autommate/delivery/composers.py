"""How each kind of outgoing message is turned into an email at send time.

The mail log stores no body, token or link, so a message is composed again at each attempt from
its kind, recipient and non-secret context. Each domain registers the composer for its kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.core.mail import EmailMultiAlternatives

if TYPE_CHECKING:
    from .models import OutgoingMessage

Composer = Callable[["OutgoingMessage"], EmailMultiAlternatives]

_composers: dict[str, Composer] = {}


class DoNotSend(Exception):
    """The message must not be sent any more (a reset link expired before it could go out)."""


def register(kind: str) -> Callable[[Composer], Composer]:
    def decorator(composer: Composer) -> Composer:
        _composers[kind] = composer
        return composer

    return decorator


def compose(message: OutgoingMessage) -> EmailMultiAlternatives:
    try:
        composer = _composers[message.kind]
    except KeyError:
        raise DoNotSend(f"No composer for messages of kind {message.kind!r}.") from None
    return composer(message)
