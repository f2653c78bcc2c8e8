"""Reads of Forgot Password: its settings, whether it can be switched on, and the reset links a
token or its hash opens."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from autommate.accounts.models import User
from autommate.mailserver.selectors import mail_server_get, unreadable_secret_messages

from .models import ForgotPasswordSettings, LinkKind, ResetLink


def forgot_password_settings_get() -> ForgotPasswordSettings:
    """Return the Forgot Password settings, read at use time (administrators change them)."""
    return ForgotPasswordSettings.objects.filter(pk=1).first() or ForgotPasswordSettings(pk=1)


def forgot_password_enabled() -> bool:
    return forgot_password_settings_get().enabled


def mail_not_ready_reason() -> str:
    """Return why Forgot Password cannot be switched on now, or an empty string."""
    mail_server = mail_server_get()
    if not mail_server.is_configured:
        return gettext("Configure the mail server first: Forgot Password sends its links by email.")
    unreadable = unreadable_secret_messages(mail_server)
    if unreadable:
        return " ".join(unreadable)
    if not mail_server.is_verified:
        return gettext(
            "Confirm the delivery of a test mail for the mail settings as they are saved now: "
            "send a test mail, then enter the code it contains."
        )
    return ""


def forgot_password_state() -> dict[str, Any]:
    """Return the switch, the link lifetime, and whether (or why not) it can be switched on."""
    current = forgot_password_settings_get()
    reason = mail_not_ready_reason()
    return {
        "enabled": current.enabled,
        "link_lifetime_minutes": current.link_lifetime_minutes,
        "invitation_lifetime_days": current.invitation_lifetime_days,
        "mail_ready": not reason,
        "not_ready_reason": reason,
    }


def token_hash(token: str) -> str:
    """Return the digest a reset link's token is stored and looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def account_state(user: User) -> str:
    """Return a digest that changes whenever the password, email or active flag changes."""
    material = f"{user.pk}|{user.password}|{user.email_key}|{user.is_active}".encode()
    key = hashlib.sha256(b"reset-link-account-state:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def link_find(*, token: str) -> ResetLink | None:
    """Return the usable link for `token`, or None; never uses it up."""
    if not token or len(token) > 128:
        return None
    return link_find_by_hash(digest=token_hash(token))


def link_find_by_hash(*, digest: str) -> ResetLink | None:
    """Return the usable link whose token hashes to `digest`, or None; never uses it up.

    A browser's session keeps this hash between opening the link and choosing the password,
    so that the token itself is stored nowhere, not even in the session store.
    """
    if not digest:
        return None
    link = ResetLink.objects.select_related("user").filter(token_hash=digest).first()
    if link is None or not link_usable(link=link):
        return None
    return link


def link_refusal(*, token: str = "", token_digest: str = "") -> str:
    """Say why a token (or its hash) opens no link: "expired" when its time ran out, else
    "refused" (unknown, used, voided, or its account changed)."""
    if not token_digest and (not token or len(token) > 128):
        return "refused"
    digest = token_digest or token_hash(token)
    expired = ResetLink.objects.filter(
        token_hash=digest, used_at=None, voided_at=None, expires_at__lte=timezone.now()
    )
    return "expired" if expired.exists() else "refused"


def link_usable(*, link: ResetLink) -> bool:
    """Return whether `link` may still set a password: unused, not voided, not expired, for an
    active user whose password, email and active flag are as they were when it was issued."""
    return (
        link.used_at is None
        and link.voided_at is None
        and link.expires_at > timezone.now()
        and link.user.is_active
        and hmac.compare_digest(link.account_state, account_state(link.user))
    )


def invitations_outstanding(*, user_ids: Iterable[int]) -> dict[int, datetime]:
    """Return when the latest invitation of each of these users expires, for those whose latest
    invitation is neither used nor voided (expired ones included: they are shown as expired)."""
    latest: dict[int, ResetLink] = {}
    invitations = ResetLink.objects.filter(user_id__in=list(user_ids), kind=LinkKind.INVITATION)
    for link in invitations.order_by("user_id", "created_at", "pk"):
        latest[link.user_id] = link
    return {
        user_id: link.expires_at
        for user_id, link in latest.items()
        if link.used_at is None and link.voided_at is None
    }
