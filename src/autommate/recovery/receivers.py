"""Recovery's answers to what accounts announce."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from autommate.accounts.models import User
from autommate.accounts.signals import account_unlocked, credentials_changed

from .services import links_void, reset_limits_lift


@receiver(credentials_changed, dispatch_uid="recovery-void-reset-links")
def void_reset_links(sender: object, *, user: User, **kwargs: Any) -> None:
    """Void the user's reset links: one sent to an old address or before deactivation must not
    work again should the change be undone."""
    links_void(user=user)


@receiver(account_unlocked, dispatch_uid="recovery-lift-reset-limits")
def lift_reset_limits(sender: object, *, user: User, **kwargs: Any) -> None:
    """Let reset mails go to the address of an account an administrator unlocked."""
    reset_limits_lift(user=user)
