"""Reads of users, shared by the pages, the JSON API and the `users` command."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import User, search_fold
from .signals import invitations_wanted
from .signin import sign_in_locked_seconds


def user_list(
    *, search: str = "", role: str | None = None, is_active: bool | None = None
) -> QuerySet[User]:
    """Return users by email, narrowed to those matching every filter given.

    `search` is matched as part of the email or the full name, whatever their case and accents
    (see `search_fold`: "ismail" finds "İsmail", "ışık" finds "Işık"); an empty one matches
    everybody. Front doors trim what was typed before passing it on.
    """
    users = User.objects.all()
    folded = search_fold(search)
    if folded:
        users = users.filter(
            Q(email_search__contains=folded) | Q(full_name_search__contains=folded)
        )
    if role is not None:
        users = users.filter(role=role)
    if is_active is not None:
        users = users.filter(is_active=is_active)
    return users


def user_sign_in_locked_seconds(*, user: User) -> int:
    """Return how long sign-in to `user` stays locked for browsers new to it (0: not locked)."""
    return sign_in_locked_seconds(user=user)


class Status(StrEnum):
    INVITED = "invited"
    INVITATION_EXPIRED = "invitation_expired"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


STATUS_LABELS = {
    Status.INVITED: _("Invited"),
    Status.INVITATION_EXPIRED: _("Invitation expired"),
    Status.ACTIVE: _("Active"),
    Status.DEACTIVATED: _("Deactivated"),
}


@dataclass(frozen=True)
class UserStatus:
    status: Status
    invitation_expires_at: datetime | None = None

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self.status])

    @property
    def invited(self) -> bool:
        return self.status in {Status.INVITED, Status.INVITATION_EXPIRED}


def user_statuses(*, users: Iterable[User]) -> dict[int, UserStatus]:
    """Return each user's status: Invited (until the invitation expires, then Invitation
    expired) while an invitation waits to be used by an active user without a password;
    otherwise Active or Deactivated."""
    users = list(users)
    waiting = [user.pk for user in users if user.is_active and not user.has_usable_password()]
    invitations: dict[int, datetime] = {}
    if waiting:
        answers = cast(
            "list[tuple[object, Any]]", invitations_wanted.send(sender=User, user_ids=waiting)
        )
        for _receiver, answer in answers:
            invitations.update(answer or {})
    now = timezone.now()
    statuses = {}
    for user in users:
        expires_at = invitations.get(user.pk) if user.pk in waiting else None
        if not user.is_active:
            statuses[user.pk] = UserStatus(Status.DEACTIVATED)
        elif expires_at is None:
            statuses[user.pk] = UserStatus(Status.ACTIVE)
        elif expires_at > now:
            statuses[user.pk] = UserStatus(Status.INVITED, expires_at)
        else:
            statuses[user.pk] = UserStatus(Status.INVITATION_EXPIRED, expires_at)
    return statuses


# Where `users_with_statuses` leaves each user's status for `user_status` to read.
_STATUS_ATTRIBUTE = "_status_read_with_its_list"


def users_with_statuses(*, users: Iterable[User]) -> list[User]:
    """Return `users` as a list, each with its status read along with all the others'.

    A list of users then costs the same few queries however many of them are invited, where
    asking `user_status` of each would cost one per user without a password.
    """
    users = list(users)
    statuses = user_statuses(users=users)
    for user in users:
        setattr(user, _STATUS_ATTRIBUTE, statuses[user.pk])
    return users


def user_status(*, user: User) -> UserStatus:
    """Return the status of `user`: read with its list by `users_with_statuses`, else now."""
    status = getattr(user, _STATUS_ATTRIBUTE, None)
    if isinstance(status, UserStatus):
        return status
    return user_statuses(users=[user])[user.pk]
