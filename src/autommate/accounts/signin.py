"""Sign-in: the check of an email and password, throttled per account and per client network.

Two allowances of failed sign-ins, each a sliding window (`AUTOMMATE_LIMIT_SIGN_IN_*`): per
account, 10 in any 15 minutes, and per client network (`client_network`), across accounts, 50.

An attempt takes its place in the allowance before the password is checked, in one atomic
step, so parallel guesses cannot overshoot it; a right password gives the place back. The
account's allowance is keyed by what was typed, so an address without an account is throttled
exactly like one with an account and the lock message reveals nothing. A lock never blocks
Forgot Password; completing a reset lifts it.
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
from autommate.client_address import client_address, client_network
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
    *,
    email: str,
    password: str,
    client_address: str,
    request: HttpRequest | None = None,
) -> User:
    """Return the active user `email` and `password` belong to, counting a failure otherwise.

    Raise RateLimited while the account's or the client's allowance is spent, whatever the
    password, and InvalidSignIn for a wrong email or password or an inactive account, after
    recording the failure. An address without an account is counted like one with an account.
    """
    place = _take_place(email=email, client=client_address)
    user = authenticate(request, username=email, password=password)
    if isinstance(user, User) and user.is_active:
        ratelimits.release(place)
        return user
    fingerprint = address_fingerprint(email_key(email))
    audit_record(Action.SIGN_IN_FAILED, client_address=client_address, address=fingerprint)
    # A limit of N allows N failures; the one that reaches it locks further attempts.
    if place.full:
        audit_record(
            Action.SIGN_IN_LOCKED,
            client_address=client_address,
            address=fingerprint,
            limits=[_LOCK_NAMES[_family(scope)] for scope in place.full],
        )
    raise InvalidSignIn


_LOCK_NAMES = {ACCOUNT_SCOPE: "account", CLIENT_SCOPE: "client"}


def _family(scope: str) -> str:
    return scope.split(":", 1)[0]


def _take_place(*, email: str, client: str) -> ratelimits.Decision:
    """Count the attempt in the account's and the client's allowances, or raise RateLimited."""
    place = ratelimits.attempt(*_counters(email=email, client=client))
    if not place.allowed:
        raise ratelimits.RateLimited(
            # In whole minutes: the page for an address without an account must read the same
            # as for one with an account, even when the two are asked for seconds apart.
            math.ceil(place.retry_after_seconds / 60) * 60,
            reason="Too many failed sign-ins.",
            otherwise="or use Forgot Password if it is available",
        )
    return place


def _counters(*, email: str, client: str) -> list[ratelimits.Counter]:
    return [
        ratelimits.Counter(ACCOUNT_SCOPE, email_key(email), settings.LIMIT_SIGN_IN_PER_ACCOUNT),
        ratelimits.Counter(CLIENT_SCOPE, client_network(client), settings.LIMIT_SIGN_IN_PER_CLIENT),
    ]


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
