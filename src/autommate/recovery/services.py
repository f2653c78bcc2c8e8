"""Forgot Password: the request, the reset link and its token, and completing the reset.

The request path validates, rate-limits, records and enqueues; it never looks the address up
and never talks SMTP, so every address gets the same answer in the same time. The worker looks
the address up and records the reset mail; the link's token is issued when the mail is composed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from autommate.accounts.models import User, email_key
from autommate.accounts.services import password_set
from autommate.accounts.signin import sign_in_unlock
from autommate.audit.models import Action
from autommate.audit.services import address_fingerprint, audit_record
from autommate.delivery.models import Kind
from autommate.delivery.services import message_record
from autommate.mailserver.selectors import mail_server_get
from autommate.ratelimits import services as ratelimits

from .models import ForgotPasswordSettings, ResetLink, ResetRequest
from .selectors import account_state, forgot_password_settings_get, link_usable, token_hash

TOKEN_BYTES = 32  # 256 bits from the operating system's CSPRNG.


class ForgotPasswordDisabled(Exception):
    message = "Forgot Password is switched off. Ask an administrator to reset your password."


class RateLimited(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        minutes = max(1, round(retry_after_seconds / 60))
        super().__init__(
            f"Too many requests. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


class MailNotVerified(Exception):
    """Forgot Password cannot be switched on while the mail settings are not proven."""


class InvalidResetLink(Exception):
    message = "This reset link is invalid or has expired."


# -- The request -------------------------------------------------------------------------------


def reset_request(*, address: str, client_address: str) -> None:
    """Accept a forgot-password request for `address`, whether or not it has an account."""
    if not forgot_password_settings_get().enabled:
        raise ForgotPasswordDisabled
    client = ratelimits.hit("reset-client", client_address, settings.LIMIT_RESET_PER_CLIENT)
    per_address = ratelimits.hit(
        "reset-address", email_key(address), settings.LIMIT_RESET_PER_ADDRESS
    )
    if not (client.allowed and per_address.allowed):
        audit_record(
            Action.RATE_LIMITED,
            client_address=client_address,
            limit="reset-client" if not client.allowed else "reset-address",
            address=address_fingerprint(email_key(address)),
        )
        raise RateLimited(max(client.retry_after_seconds, per_address.retry_after_seconds))
    from .tasks import reset_request_process

    with transaction.atomic():
        request = ResetRequest.objects.create(address=address, client_address=client_address)
        audit_record(
            Action.RESET_REQUESTED,
            client_address=client_address,
            address=address_fingerprint(email_key(address)),
        )
        reset_request_process.enqueue(request.pk)


def reset_request_process(request_id: int) -> None:
    """In the worker: look the address up and, for an active account, record the reset mail."""
    with transaction.atomic():
        request = ResetRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.processed_at is not None:
            return
        user = User.objects.filter(email_key=email_key(request.address), is_active=True).first()
        request.address = ""  # The typed spelling is not kept once it has been resolved.
        request.processed_at = timezone.now()
        request.save(update_fields=["address", "processed_at"])
        if user is not None:
            message_record(
                kind=Kind.RESET,
                recipient=user.email,
                user=user,
                context={"requested_at": request.created_at.isoformat()},
            )


# -- The link and its token --------------------------------------------------------------------


def link_issue(*, user: User, expires_at: datetime) -> str:
    """Issue a reset link token for `user`, voiding older ones; return the token (not stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        ResetLink.objects.filter(user=user, used_at=None, voided_at=None).update(voided_at=now)
        ResetLink.objects.create(
            user=user,
            token_hash=token_hash(token),
            account_state=account_state(user),
            created_at=now,
            expires_at=expires_at,
        )
    return token


def links_void(*, user: User) -> int:
    """Void every outstanding reset link of `user` for good; return how many there were.

    The account-state digest already stops a link when the email or active flag changes, but
    would let it work again once they change back; voiding makes the change final.
    """
    outstanding = ResetLink.objects.filter(user=user, used_at=None, voided_at=None)
    return outstanding.update(voided_at=timezone.now())


def link_url(token: str) -> str:
    return f"{settings.BASE_URL}/reset-password/{token}/"


def link_failure(*, client_address: str) -> bool:
    """Count a wrong or expired link from `client_address`; return whether it is now throttled."""
    decision = ratelimits.hit(
        "reset-link-failure", client_address, settings.LIMIT_RESET_LINK_FAILURES
    )
    audit_record(Action.RESET_LINK_INVALID, client_address=client_address)
    return not decision.allowed


def link_failures_throttled(*, client_address: str) -> RateLimited | None:
    """Return the limit in force if `client_address` used too many bad links, without counting."""
    decision = ratelimits.peek(
        "reset-link-failure", client_address, settings.LIMIT_RESET_LINK_FAILURES
    )
    return None if decision.allowed else RateLimited(decision.retry_after_seconds)


# -- Completing the reset ----------------------------------------------------------------------


@dataclass(frozen=True)
class ResetDone:
    user: User


def reset_complete(
    *, token: str = "", token_digest: str = "", password: str, client_address: str
) -> ResetDone:
    """Set the new password through a reset link, use the link up and notify the owner.

    The link is given by its token, or by the token's hash (`token_digest`) as a session keeps it.
    """
    digest = token_digest or token_hash(token)
    with transaction.atomic():
        link = (
            ResetLink.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=digest)
            .first()
        )
        if link is None or not link_usable(link=link):
            raise InvalidResetLink
        user = link.user
        password_set(user=user, password=password, client_address=client_address, via="reset")
        now = timezone.now()
        link.used_at = now
        link.save(update_fields=["used_at"])
        ResetLink.objects.filter(user=user, used_at=None, voided_at=None).update(voided_at=now)
        _revoke_api_tokens(user)
        sign_in_unlock(user=user)
        audit_record(Action.RESET_COMPLETED, client_address=client_address, target=user.email)
        message_record(
            kind=Kind.PASSWORD_CHANGED,
            recipient=user.email,
            user=user,
            context={"changed_at": now.isoformat(), "client_address": client_address},
        )
    return ResetDone(user=user)


def _revoke_api_tokens(user: User) -> None:
    try:
        from autommate.accounts.tokens import api_tokens_revoke_all
    except ImportError:  # Personal API tokens arrive with the API.
        return
    api_tokens_revoke_all(user=user)


# -- The switch --------------------------------------------------------------------------------


def forgot_password_configure(
    *,
    enabled: bool,
    link_lifetime_minutes: int,
    actor: User | None = None,
    client_address: str | None = None,
) -> ForgotPasswordSettings:
    """Save the Forgot Password settings; refuse to switch on while mail is unproven."""
    current = forgot_password_settings_get()
    if enabled and not current.enabled:
        reason = mail_not_ready_reason()
        if reason:
            raise MailNotVerified(reason)
    was_enabled = current.enabled
    current.enabled = enabled
    current.link_lifetime_minutes = link_lifetime_minutes
    current.updated_at = timezone.now()
    current.full_clean()
    with transaction.atomic():
        current.save()
        if was_enabled != enabled:
            audit_record(
                Action.FORGOT_PASSWORD_SWITCHED,
                actor=actor,
                client_address=client_address,
                enabled=enabled,
            )
    return current


def mail_not_ready_reason() -> str:
    """Return why Forgot Password cannot be switched on now, or an empty string."""
    mail_server = mail_server_get()
    if not mail_server.is_configured:
        return "Configure the mail server first: Forgot Password sends its links by email."
    if not mail_server.is_verified:
        return (
            "Confirm the delivery of a test mail for the mail settings as they are saved now: "
            "send a test mail, then enter the code it contains."
        )
    return ""


def reset_link_expires_at(requested_at: datetime) -> datetime:
    minutes = forgot_password_settings_get().link_lifetime_minutes
    return requested_at + timedelta(minutes=minutes)
