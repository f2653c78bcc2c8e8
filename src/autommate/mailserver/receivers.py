"""The mail server's answers to what delivery announces."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.dispatch import receiver

from autommate.delivery.attempts import mail_sent

from .services import last_working_keep

# Settings already checked in this process are checked again at most this often: a query for
# every accepted mail would cost the busiest path a sixth more queries, for a fact that changes
# only when the settings do.
RECHECK_SECONDS = 60.0
CHECKED: dict[str, float] = {}
_lock = threading.Lock()


@receiver(mail_sent, dispatch_uid="mailserver-keep-last-working")
def keep_last_working(sender: object, *, sent_through: str = "", **kwargs: Any) -> None:
    """Keep the settings a mail was just accepted through as the last that worked."""
    if not sent_through:
        return
    now = time.monotonic()
    with _lock:
        checked_at = CHECKED.get(sent_through)
        if checked_at is not None and now - checked_at < RECHECK_SECONDS:
            return
    last_working_keep(sent_through=sent_through)
    with _lock:
        CHECKED.clear()  # Only the settings in use now are worth remembering.
        CHECKED[sent_through] = now
