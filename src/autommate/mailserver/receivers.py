"""The mail server's answers to what delivery announces."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from autommate.delivery.attempts import mail_sent

from .services import last_working_keep


@receiver(mail_sent, dispatch_uid="mailserver-keep-last-working")
def keep_last_working(sender: object, *, sent_through: str = "", **kwargs: Any) -> None:
    """Keep the settings a mail was just accepted through as the last that worked."""
    last_working_keep(sent_through=sent_through)
