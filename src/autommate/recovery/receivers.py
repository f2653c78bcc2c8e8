"""Recovery's answers to what accounts announce."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from autommate.accounts.models import User
from autommate.accounts.signals import account_unlocked, credentials_changed, password_changed

from .services import links_void, password_changed_notify, reset_limits_lift


@receiver(credentials_changed, dispatch_uid="recovery-void-reset-links")
def void_reset_links(sender: object, *, user: User, **kwargs: Any) -> None:
    """Void the user's reset links: one sent to an old address or before deactivation must not
    work again should the change be undone."""
    links_void(user=user)


@receiver(account_unlocked, dispatch_uid="recovery-lift-reset-limits")
def lift_reset_limits(sender: object, *, user: User, **kwargs: Any) -> None:
    """Let reset mails go to the address of an account an administrator unlocked."""
    reset_limits_lift(user=user)


@receiver(password_changed, dispatch_uid="recovery-password-changed-notice")
def notify_password_changed(
    sender: object, *, user: User, client_address: str | None, **kwargs: Any
) -> None:
    """Tell the owner, as after a reset: a change they did not make is an alarm."""
    password_changed_notify(user=user, client_address=client_address, via="account")
