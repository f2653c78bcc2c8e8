"""Throttling of failed sign-ins, per account and per client address.

Both limits are keyed by what was typed, so an address without an account is throttled exactly
like one with an account and the lock message reveals nothing. A lock never blocks Forgot
Password, and completing a reset lifts the account's lock.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from autommate.audit.models import Action
from autommate.audit.services import address_fingerprint, audit_record
from autommate.client_address import client_address
from autommate.ratelimits import services as ratelimits

from .models import User, email_key

ACCOUNT_SCOPE = "sign-in-account"
CLIENT_SCOPE = "sign-in-client"


def sign_in_retry_after(*, email: str, client: str) -> int:
    """Return how many seconds sign-in stays locked for this address or client (0: not locked)."""
    account = ratelimits.peek(ACCOUNT_SCOPE, email_key(email), settings.LIMIT_SIGN_IN_PER_ACCOUNT)
    by_client = ratelimits.peek(CLIENT_SCOPE, client, settings.LIMIT_SIGN_IN_PER_CLIENT)
    return max(account.retry_after_seconds, by_client.retry_after_seconds)


def sign_in_failed(*, email: str, client: str) -> None:
    """Count a failed sign-in and record it; record the lock when this failure causes one."""
    key = email_key(email)
    ratelimits.hit(ACCOUNT_SCOPE, key, settings.LIMIT_SIGN_IN_PER_ACCOUNT)
    ratelimits.hit(CLIENT_SCOPE, client, settings.LIMIT_SIGN_IN_PER_CLIENT)
    audit_record(Action.SIGN_IN_FAILED, client_address=client, address=address_fingerprint(key))
    # A limit of N allows N failures; the one that reaches it locks further attempts.
    if sign_in_retry_after(email=email, client=client):
        audit_record(Action.SIGN_IN_LOCKED, client_address=client, address=address_fingerprint(key))


def sign_in_unlock(*, user: User) -> None:
    """Lift the account's sign-in lock (after a completed password reset)."""
    ratelimits.reset(ACCOUNT_SCOPE, user.email_key)


@receiver(user_logged_in)
def _record_sign_in(
    sender: object, request: HttpRequest | None, user: User, **kwargs: object
) -> None:
    audit_record(
        Action.SIGN_IN,
        actor=user,
        client_address=client_address(request) if request is not None else None,
        target=user.email,
    )
