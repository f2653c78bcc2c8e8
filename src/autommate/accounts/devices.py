"""Device cookies: a browser that has signed in to an account is known to it from then on.

OWASP's "Slow down online guessing attacks with device cookies": a stranger who locks an
account by guessing its password locks out only the browsers that have never signed in to it.
A browser that has (or that completed a password reset of the account, which proves the same
control of it) carries a cookie, signed with the secret key, that names the account by a keyed
digest and the browser by a random nonce; with it, that browser keeps its own allowance of
failed sign-ins and reset requests for the account, whatever strangers do.

The cookie holds no address and grants nothing but that allowance: the password is still
required, and a browser that uses its allowance up is a stranger again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import email_key

DEVICE_COOKIE = "autommate_device"
_SALT = "autommate.accounts.devices"
# Browsers shared by a few people (a family computer, an administrator testing as a user)
# keep an entry for each of their last few accounts.
MOST_ACCOUNTS_PER_COOKIE = 5


@dataclass(frozen=True)
class Device:
    """A browser known to one account: the account's digest and the browser's nonce."""

    account: str
    nonce: str


def account_digest(address: str) -> str:
    """Return the keyed digest a device cookie names the account of `address` by."""
    return salted_hmac(_SALT, email_key(address), algorithm="sha256").hexdigest()[:32]


def device_for(*, cookie: str, address: str) -> Device | None:
    """Return the device `cookie` proves for the account of `address`, if it proves one."""
    if not cookie:
        return None
    account = account_digest(address)
    for entry in _entries(cookie):
        if entry[0] == account:
            return Device(account=entry[0], nonce=entry[1])
    return None


def device_cookie_value(*, cookie: str, address: str) -> str:
    """Return the device cookie for a browser that has just proved it holds the account.

    The account's entry gets a new nonce (and so a fresh allowance); the entries of the other
    accounts the browser holds are kept, the oldest dropped beyond a few.
    """
    account = account_digest(address)
    others = [entry for entry in _entries(cookie) if entry[0] != account]
    now = int(timezone.now().timestamp())
    entries = [[account, secrets.token_urlsafe(16), now], *others][:MOST_ACCOUNTS_PER_COOKIE]
    return signing.dumps(entries, salt=_SALT, compress=True)


def remember_device(request: HttpRequest, response: HttpResponse, *, address: str) -> None:
    """Set the device cookie of a browser that has just signed in to the account of `address`
    (or completed its password reset): long-lived, HTTP only, Secure with an https base URL."""
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie_value(cookie=request.COOKIES.get(DEVICE_COOKIE, ""), address=address),
        max_age=settings.SIGN_IN_DEVICE_LIFETIME_DAYS * 86400,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


def _entries(cookie: str) -> list[list[Any]]:
    """Return the cookie's unexpired [account, nonce, issued] entries; none if it is not ours."""
    try:
        entries = signing.loads(cookie, salt=_SALT)
    except signing.BadSignature:
        return []
    if not isinstance(entries, list):
        return []
    oldest = timezone.now().timestamp() - settings.SIGN_IN_DEVICE_LIFETIME_DAYS * 86400
    return [
        entry
        for entry in entries
        if isinstance(entry, list)
        and len(entry) == 3
        and all(isinstance(part, str) for part in entry[:2])
        and isinstance(entry[2], int)
        and entry[2] > oldest
    ]
