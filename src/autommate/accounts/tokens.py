"""Personal API tokens: issue, revoke, and recognise them on API requests.

A token's secret is random (256 bits) behind a recognisable prefix, so that secret scanners and
people can tell what a leaked string is. Only its SHA-256 hash is stored: a plain hash suffices
because the secret has full entropy, and it lets a request be matched with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from http import HTTPStatus

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from autommate.audit.models import Action
from autommate.audit.services import audit_record
from autommate.errors import DomainError

from .models import ApiToken, User

PREFIX = "amt_"
SECRET_BYTES = 32
HINT_CHARS = 4
NAME_MAX_CHARS = 100
# Enough for every script and pipeline of one person; a runaway loop stops here.
ACTIVE_TOKENS_MAX = 100
# Recording every use would turn each read into a write; once a minute says enough.
LAST_USED_PRECISION = timedelta(minutes=1)
_SECRET = re.compile(rf"^{PREFIX}[A-Za-z0-9_-]{{43}}$")


class SessionRequired(DomainError):
    """A request with an API token asked to create or revoke API tokens."""

    code = "session_required"
    status = HTTPStatus.FORBIDDEN
    default_message = gettext_lazy(
        "API tokens are created and revoked only from a logged-in session: on /account/tokens/, "
        "or through this API with the session cookie and its CSRF token, without an "
        "Authorization header. An API token cannot make or revoke tokens, so that revoking a "
        "token leaves no token it made behind."
    )


class InvalidToken(Exception):
    """The request carried an Authorization header that does not identify a usable token.

    The API answers it with 401 `invalid_token`; `/readyz` does too.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """Return the tokens of `user`, newest first, revoked and expired ones included."""
    return ApiToken.objects.filter(user=user)


def api_token_create(
    *,
    user: User,
    name: str,
    expires_at: datetime | None,
    client_address: str | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token for `user`; return it and its secret, which is never available again."""
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = gettext("Enter a name that says what the token is for.")
    elif len(name) > NAME_MAX_CHARS:
        errors["name"] = gettext("Use at most %(max)d characters for the name.") % {
            "max": NAME_MAX_CHARS
        }
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = gettext("Choose an expiry in the future, or none.")
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    active = api_tokens_of(user).filter(revoked_at=None).exclude(expires_at__lte=now)
    if active.count() >= ACTIVE_TOKENS_MAX:
        raise ValidationError(
            gettext(
                "You have %(max)d active tokens, the most allowed. Revoke one you no longer use "
                "first."
            )
            % {"max": ACTIVE_TOKENS_MAX}
        )
    random_part = secrets.token_urlsafe(SECRET_BYTES)
    secret = PREFIX + random_part
    token = ApiToken(
        user=user,
        name=name,
        hint=random_part[:HINT_CHARS],
        secret_hash=_hash(secret),
        created_at=now,
        expires_at=expires_at,
    )
    with transaction.atomic():
        token.save()
        audit_record(
            Action.API_TOKEN_CREATED,
            actor=user,
            client_address=client_address,
            target=user.email,
            token=token.pk,
            name=name,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
    return token, secret


def api_token_revoke(
    *, token: ApiToken, actor: User | None, client_address: str | None = None
) -> ApiToken:
    """Revoke `token` from now on; revoking it again changes nothing."""
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    with transaction.atomic():
        token.save(update_fields=["revoked_at"])
        audit_record(
            Action.API_TOKEN_REVOKED,
            actor=actor,
            client_address=client_address,
            target=token.user.email,
            token=token.pk,
            name=token.name,
        )
    return token


def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every token of `user` (after a password reset); return how many were revoked."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(user=user, revoked_at=None).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit_record(Action.API_TOKEN_REVOKED, target=user.email, count=revoked, reason="all")
    return revoked


def api_token_authenticate(secret: str) -> User:
    """Return the active user a token secret belongs to, or raise InvalidToken saying why."""
    if not _SECRET.match(secret):
        raise InvalidToken(
            gettext(
                "The API token is malformed: send 'Authorization: Bearer %(prefix)s…' with the "
                "secret shown when the token was created."
            )
            % {"prefix": PREFIX}
        )
    token = ApiToken.objects.select_related("user").filter(secret_hash=_hash(secret)).first()
    if token is None:
        raise InvalidToken(gettext("The API token is not valid."))
    now = timezone.now()
    if token.revoked_at is not None:
        raise InvalidToken(gettext("The API token has been revoked."))
    if token.expires_at is not None and token.expires_at <= now:
        raise InvalidToken(gettext("The API token has expired."))
    if not token.user.is_active:
        raise InvalidToken(gettext("The account of this API token is deactivated."))
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def bearer_secret(header: str) -> str:
    """Return the secret of an `Authorization: Bearer …` header; raise InvalidToken for another."""
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise InvalidToken(
            gettext("The Authorization header must be 'Bearer' followed by a personal API token.")
        )
    return secret.strip()
