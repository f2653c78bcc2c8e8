"""Reads of users, shared by the pages, the JSON API and the `users` command."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from django.db.models import Q, QuerySet
from django.utils import timezone

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
    Status.INVITED: "Invited",
    Status.INVITATION_EXPIRED: "Invitation expired",
    Status.ACTIVE: "Active",
    Status.DEACTIVATED: "Deactivated",
}


@dataclass(frozen=True)
class UserStatus:
    status: Status
    invitation_expires_at: datetime | None = None

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

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


def user_status(*, user: User) -> UserStatus:
    return user_statuses(users=[user])[user.pk]
