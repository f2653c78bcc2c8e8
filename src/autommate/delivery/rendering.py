"""One way to build every email: `<name>.subject.txt`, `<name>.txt` and `<name>.html` templates."""

from __future__ import annotations

from email.utils import make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.encoding import punycode


def message_id_domain(sender: str) -> str:
    """Return the domain of Message-IDs: the sender's, in ASCII.

    Spam filters expect it to match the From domain; the public address may be an IP literal
    or an internal name. Never a request's Host.
    """
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    if domain:
        return domain if domain.isascii() else punycode(domain)
    return urlsplit(settings.BASE_URL).hostname or "localhost"


def render_email(
    template: str,
    context: dict[str, Any],
    *,
    to: str,
    sender: str,
    language: str,
) -> EmailMultiAlternatives:
    """Render `template` (a path without suffix) into a message with text and HTML parts.

    `sender` is the whole From header, as the mail server's `sender_address` gives it.
    `language` is the recipient's (see `languages.mail_language`): the whole mail is composed
    in it, whatever language the composing process has active, and the Content-Language header
    names it.
    """
    context = {"base_url": settings.BASE_URL, "product_name": "Autom Mate", **context}
    with translation.override(language):
        subject = " ".join(render_to_string(f"{template}.subject.txt", context).split())
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=sender,
        to=[to],
        headers={
            "Message-ID": make_msgid(domain=message_id_domain(sender)),
            "Auto-Submitted": "auto-generated",
            "Content-Language": language,
            # Exchange and Outlook send no out-of-office or other automatic reply to it.
            "X-Auto-Response-Suppress": "All",
        },
    )
    message.attach_alternative(html, "text/html")
    return message
