"""Reads of users, shared by the pages, the JSON API and the `users` command."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import User
from .signin import sign_in_locked_seconds


def user_list(
    *, search: str = "", role: str | None = None, is_active: bool | None = None
) -> QuerySet[User]:
    """Return users by email, narrowed to those matching every filter given.

    `search` is matched, in any case, as part of the email or the full name; an empty one
    matches everybody. Front doors trim what was typed before passing it on.
    """
    users = User.objects.all()
    if search:
        users = users.filter(Q(email__icontains=search) | Q(full_name__icontains=search))
    if role is not None:
        users = users.filter(role=role)
    if is_active is not None:
        users = users.filter(is_active=is_active)
    return users


def user_sign_in_locked_seconds(*, user: User) -> int:
    """Return how long sign-in to `user` stays locked for browsers new to it (0: not locked)."""
    return sign_in_locked_seconds(user=user)
