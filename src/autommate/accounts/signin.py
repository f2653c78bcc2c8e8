"""Sign-in: the check of an email and password, throttled so that no stranger can lock owners out.

Three allowances of failed sign-ins, each a sliding window (`AUTOMMATE_LIMIT_SIGN_IN_*`):

- per account, for browsers that have never signed in to it (strangers): 10 in any 15 minutes;
- per account and known browser (a device cookie, `devices.py`): each its own 10, so a
  stranger who locks the account out does not lock its owner out of a browser they used before;
  a browser that uses its own allowance up is a stranger again;
- per client network (`client_network`), across accounts, for strangers: 50 in any 15 minutes.

An attempt takes its place in the allowance before the password is checked, in one atomic
step, so parallel guesses cannot overshoot it; a right password gives the place back. The
account's allowance is keyed by what was typed, so an address without an account is throttled
exactly like one with an account and the lock message reveals nothing. A lock never blocks
Forgot Password; completing a reset, or an administrator's Unlock, lifts it.
"""

from __future__ import annotations

import math
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

from autommate import metrics
from autommate.audit.models import Action
from autommate.audit.services import address_fingerprint, audit_record
from autommate.client_address import client_address, client_network
from autommate.errors import DomainError
from autommate.ratelimits import services as ratelimits

from .devices import Device, account_digest, device_for
from .models import User, email_key

ACCOUNT_SCOPE = "sign-in-account"
DEVICE_SCOPE = "sign-in-device"
CLIENT_SCOPE = "sign-in-client"


class InvalidSignIn(DomainError):
    """The email or password is wrong or the account inactive; which one is never said."""

    code = "invalid_sign_in"
    status = HTTPStatus.UNAUTHORIZED
    default_message = gettext_lazy(
        "The email or password is not correct, or the account is inactive."
    )


def sign_in_attempt(
    *,
    email: str,
    password: str,
    client_address: str,
    device_cookie: str = "",
    request: HttpRequest | None = None,
) -> User:
    """Return the active user `email` and `password` belong to, counting a failure otherwise.

    Raise RateLimited while every allowance this browser may use is spent, whatever the
    password, and InvalidSignIn for a wrong email or password or an inactive account, after
    recording the failure. An address without an account is counted like one with an account.
    """
    place = _take_place(email=email, client=client_address, device_cookie=device_cookie)
    user = authenticate(request, username=email, password=password)
    if isinstance(user, User) and user.is_active:
        ratelimits.release(place)
        metrics.SIGN_INS.labels(outcome="succeeded").inc()
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
    metrics.SIGN_INS.labels(outcome="failed").inc()
    raise InvalidSignIn


_LOCK_NAMES = {ACCOUNT_SCOPE: "account", DEVICE_SCOPE: "known browser", CLIENT_SCOPE: "client"}


def _family(scope: str) -> str:
    return scope.split(":", 1)[0]


def _take_place(*, email: str, client: str, device_cookie: str) -> ratelimits.Decision:
    """Count the attempt in the first allowance that has room, or raise RateLimited."""
    device = device_for(cookie=device_cookie, address=email)
    if device is not None:
        own = ratelimits.attempt(_device_counter(device))
        if own.allowed:
            return own
    strangers = ratelimits.attempt(*_stranger_counters(email=email, client=client))
    if not strangers.allowed:
        metrics.SIGN_INS.labels(outcome="locked").inc()
        raise ratelimits.RateLimited(
            # In whole minutes: the page for an address without an account must read the same
            # as for one with an account, even when the two are asked for seconds apart.
            math.ceil(strangers.retry_after_seconds / 60) * 60,
            reason=gettext("Too many failed attempts to log in."),
            # Translators: after "Try again in 15 minutes,".
            otherwise=gettext("or use Forgot Password if it is available"),
        )
    return strangers


def _device_counter(device: Device) -> ratelimits.Counter:
    return ratelimits.Counter(
        f"{DEVICE_SCOPE}:{device.account}", device.nonce, settings.LIMIT_SIGN_IN_PER_ACCOUNT
    )


def _stranger_counters(*, email: str, client: str) -> list[ratelimits.Counter]:
    return [
        ratelimits.Counter(ACCOUNT_SCOPE, email_key(email), settings.LIMIT_SIGN_IN_PER_ACCOUNT),
        ratelimits.Counter(CLIENT_SCOPE, client_network(client), settings.LIMIT_SIGN_IN_PER_CLIENT),
    ]


def sign_in_locked_seconds(*, user: User) -> int:
    """Return how long sign-in stays locked for browsers new to `user` (0: not locked)."""
    counter = ratelimits.Counter(ACCOUNT_SCOPE, user.email_key, settings.LIMIT_SIGN_IN_PER_ACCOUNT)
    return ratelimits.peek_all(counter).retry_after_seconds


def sign_in_unlock(*, user: User) -> None:
    """Lift every sign-in lock of the account: the strangers' and each known browser's."""
    ratelimits.reset(ACCOUNT_SCOPE, user.email_key)
    ratelimits.reset_scope(f"{DEVICE_SCOPE}:{account_digest(user.email)}")


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
