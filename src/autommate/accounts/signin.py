"""Sign-in: the check of an email and password, throttled per account and per client address.

Both limits are keyed by what was typed, so an address without an account is throttled exactly
like one with an account and the lock message reveals nothing. A lock never blocks Forgot
Password, and completing a reset lifts the account's lock.
"""

from __future__ import annotations

import math
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from autommate.audit.models import Action
from autommate.audit.services import address_fingerprint, audit_record
from autommate.client_address import client_address
from autommate.errors import DomainError
from autommate.ratelimits import services as ratelimits

from .models import User, email_key

ACCOUNT_SCOPE = "sign-in-account"
CLIENT_SCOPE = "sign-in-client"


class InvalidSignIn(DomainError):
    """The email or password is wrong or the account inactive; which one is never said."""

    code = "invalid_sign_in"
    status = HTTPStatus.UNAUTHORIZED
    default_message = "The email or password is not correct, or the account is inactive."


def sign_in_attempt(
    *, email: str, password: str, client_address: str, request: HttpRequest | None = None
) -> User:
    """Return the active user `email` and `password` belong to, counting a failure otherwise.

    Raise RateLimited while the address or the client is locked, whatever the password, and
    InvalidSignIn for a wrong email or password or an inactive account, after counting and
    recording the failure. An address without an account is counted like one with an account.
    """
    retry_after = sign_in_retry_after(email=email, client=client_address)
    if retry_after:
        raise ratelimits.RateLimited(
            # In whole minutes: the page for an address without an account must read the same
            # as for one with an account, even when the two are asked for seconds apart.
            math.ceil(retry_after / 60) * 60,
            reason="Too many failed sign-ins.",
            otherwise="or use Forgot Password if it is available",
        )
    user = authenticate(request, username=email, password=password)
    if not isinstance(user, User) or not user.is_active:
        sign_in_failed(email=email, client=client_address)
        raise InvalidSignIn
    return user


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
