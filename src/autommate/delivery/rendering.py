"""One way to build every email: `<name>.subject.txt`, `<name>.txt` and `<name>.html` templates."""

from __future__ import annotations

from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def render_email(
    template: str,
    context: dict[str, Any],
    *,
    to: str,
    sender: str,
) -> EmailMultiAlternatives:
    """Render `template` (a path without suffix) into a message with text and HTML parts.

    `sender` is the whole From header, as the mail server's `sender_address` gives it.
    """
    context = {"base_url": settings.BASE_URL, "product_name": "Autom Mate", **context}
    subject = " ".join(render_to_string(f"{template}.subject.txt", context).split())
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    # The Message-ID domain comes from the public address, never from a request's Host.
    message_id = make_msgid(domain=urlsplit(settings.BASE_URL).hostname or "localhost")
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=sender,
        to=[to],
        headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message
