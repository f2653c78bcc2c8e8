"""Writes to accounts: every front door (pages, API, commands) calls these."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext, gettext_lazy

from autommate.audit.models import Action
from autommate.audit.services import audit_record, audit_record_repeated
from autommate.errors import DomainError
from autommate.ratelimits import services as ratelimits

from .models import Role, User, email_key, search_fold
from .signals import (
    account_unlocked,
    credentials_changed,
    invitation_requested,
    password_changed,
    reset_link_requested,
)
from .signin import sign_in_unlock


def user_create(
    *,
    email: str,
    full_name: str = "",
    role: str = Role.USER,
    is_active: bool = True,
    password: str | None = None,
    language: str = "",
    actor: User | None = None,
    client_address: str | None = None,
) -> User:
    """Create a user; without a password the user sets one through Forgot Password.

    A password the policy refuses raises ValidationError for the field `password`.
    """
    user = User(
        email=email.strip(),
        full_name=full_name.strip(),
        role=role,
        is_active=is_active,
        language=language or "",
    )
    _check_email_free(user)
    if password:
        try:
            password_validation.validate_password(password, user)
        except ValidationError as error:
            raise ValidationError({"password": error.messages}) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password", "email_key"])
    with transaction.atomic():
        user.save()
        audit_record(
            Action.USER_CREATED,
            actor=actor,
            client_address=client_address,
            target=user.email,
            role=user.role,
            active=user.is_active,
            **({"language": user.language} if user.language else {}),
        )
    return user


def user_update(
    *,
    user: User,
    actor: User | None = None,
    client_address: str | None = None,
    **changes: Any,
) -> User:
    """Change email, full name, role, active flag or Language; record which fields changed.

    Deactivating ends every session of the account for good; its API tokens are refused while
    it is inactive but not revoked (their owner sees and revokes them on /account/tokens/).
    """
    allowed = {"email", "full_name", "role", "is_active", "language"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))}")
    changed = [name for name, value in changes.items() if getattr(user, name) != value]
    if not changed:
        return user
    if (
        actor is not None
        and actor.pk == user.pk
        and user.is_admin
        and (
            changes.get("role", user.role) != Role.ADMINISTRATOR
            or changes.get("is_active", True) is False
        )
    ):
        raise ValidationError(gettext("You cannot remove your own administrator access."))
    for name in changed:
        setattr(
            user, name, changes[name].strip() if isinstance(changes[name], str) else changes[name]
        )
    if "email" in changed:
        _check_email_free(user)
    if "role" in changed or "is_active" in changed:
        _check_an_administrator_remains(user)
    user.full_clean(exclude=["password", "email_key"])
    ends_sessions = "is_active" in changed and not user.is_active
    saved = list(changed)
    if ends_sessions:
        # Deactivation ends every session for good: reactivating must not revive them.
        user.session_generation += 1
        saved.append("session_generation")
    with transaction.atomic():
        user.save(update_fields=saved)
        if "email" in changed or "is_active" in changed:
            credentials_changed.send(sender=User, user=user, fields=changed)
        audit_record(
            Action.USER_DEACTIVATED
            if changed == ["is_active"] and not user.is_active
            else Action.USER_CHANGED,
            actor=actor,
            client_address=client_address,
            target=user.email,
            fields=changed,
            **({"sessions_ended": True} if ends_sessions else {}),
        )
    return user


def user_deactivate(
    *, user: User, actor: User | None = None, client_address: str | None = None
) -> User:
    return user_update(user=user, actor=actor, client_address=client_address, is_active=False)


def user_unlock(
    *, user: User, actor: User | None = None, client_address: str | None = None
) -> User:
    """Lift every lock strangers can put on the account: its sign-in locks and, through
    `account_unlocked`, the limit of reset mails to its address."""
    with transaction.atomic():
        sign_in_unlock(user=user)
        account_unlocked.send(sender=User, user=user)
        audit_record(
            Action.SIGN_IN_UNLOCKED, actor=actor, client_address=client_address, target=user.email
        )
    return user


class LinksUnavailable(DomainError):
    code = "links_unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = gettext_lazy(
        "Invitations and reset links cannot be sent by this installation."
    )


def user_invite(
    *, user: User, actor: User | None = None, client_address: str | None = None
) -> None:
    """Send `user` an invitation to set a first password (or a new one, voiding the last).

    The rules live with Forgot Password's links, through `invitation_requested`; a refusal
    (mail settings unverified, a password set already, a deactivated account, too many mails)
    is raised as its DomainError.
    """
    if not invitation_requested.send(
        sender=User, user=user, actor=actor, client_address=client_address
    ):
        raise LinksUnavailable


def user_reset_link_send(
    *, user: User, actor: User | None = None, client_address: str | None = None
) -> None:
    """Send `user` a reset link to their stored address, on an administrator's word.

    Refusals as for `user_invite`, through `reset_link_requested`.
    """
    if not reset_link_requested.send(
        sender=User, user=user, actor=actor, client_address=client_address
    ):
        raise LinksUnavailable


def password_set(
    *,
    user: User,
    password: str,
    actor: User | None = None,
    client_address: str | None = None,
    via: str = "",
) -> None:
    """Set a new password after checking the policy.

    Changing the password changes the session hash, which ends every session of the account;
    outstanding reset links stop working because they are bound to the account's state.
    """
    password_validation.validate_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.save(update_fields=["password"])
        audit_record(
            Action.PASSWORD_CHANGED,
            actor=actor,
            client_address=client_address,
            target=user.email,
            via=via,
        )


PASSWORD_CHANGE_SCOPE = "password-change"


def password_change(
    *,
    user: User,
    current_password: str,
    new_password: str,
    client_address: str | None = None,
) -> None:
    """Change the signed-in user's own password, proving the current one first.

    Throttled like logging in to the account (`AUTOMMATE_LIMIT_SIGN_IN_PER_ACCOUNT`), counted
    before the current password is checked and given back when it was right, so a stolen
    session cannot be used to guess it. Every other session of the account ends with the
    password (its hash is part of theirs); the caller keeps its own.
    """
    decision = ratelimits.attempt(
        ratelimits.Counter(PASSWORD_CHANGE_SCOPE, str(user.pk), settings.LIMIT_SIGN_IN_PER_ACCOUNT)
    )
    if not decision.allowed:
        audit_record_repeated(
            Action.RATE_LIMITED,
            repeats=f"{PASSWORD_CHANGE_SCOPE}:{user.pk}",
            actor=user,
            client_address=client_address,
            limit=PASSWORD_CHANGE_SCOPE,
        )
        raise ratelimits.RateLimited(
            decision.retry_after_seconds, reason=gettext("Too many wrong current passwords.")
        )
    if not user.check_password(current_password):
        raise ValidationError({"current_password": gettext("This is not your current password.")})
    ratelimits.release(decision)
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as error:
        raise ValidationError({"new_password1": error.messages}) from None
    with transaction.atomic():
        password_set(
            user=user,
            password=new_password,
            actor=user,
            client_address=client_address,
            via="account",
        )
        password_changed.send(sender=User, user=user, client_address=client_address)


def user_search_columns_refresh() -> int:
    """Fill in what the users list sorts and searches by, for users saved without it (loaded
    from a backup); return how many changed."""
    changed = 0
    for user in User.objects.only("pk", "email", "full_name", "email_search", "full_name_search"):
        email, name = search_fold(user.email)[:254], search_fold(user.full_name)[:150]
        if (email, name) != (user.email_search, user.full_name_search):
            User.objects.filter(pk=user.pk).update(email_search=email, full_name_search=name)
            changed += 1
    return changed


def _check_email_free(user: User) -> None:
    taken = User.objects.filter(email_key=email_key(user.email)).exclude(pk=user.pk).exists()
    if taken:
        raise ValidationError({"email": gettext("A user with this email address already exists.")})


def _check_an_administrator_remains(user: User) -> None:
    others = (
        User.objects.filter(role=Role.ADMINISTRATOR, is_active=True).exclude(pk=user.pk).exists()
    )
    if not others and not user.is_admin:
        raise ValidationError(gettext("At least one active administrator must remain."))
