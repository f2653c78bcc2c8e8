"""Recovery's answers to what accounts announce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.dispatch import receiver
from django.utils import translation

from autommate.accounts.models import User
from autommate.accounts.signals import (
    account_unlocked,
    credentials_changed,
    invitation_requested,
    invitations_wanted,
    password_changed,
    reset_link_requested,
)

from .selectors import invitations_outstanding
from .services import (
    invitation_send,
    links_void,
    password_changed_notify,
    reset_limits_lift,
    reset_link_send,
)


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
    """Tell the owner, as after a reset: a change they did not make is an alarm.

    Sent while the account page is answered, whose language the notice keeps for a user
    without a Language of their own.
    """
    password_changed_notify(
        user=user,
        client_address=client_address,
        via="account",
        language=translation.get_language() or "",
    )


@receiver(invitation_requested, dispatch_uid="recovery-send-invitation")
def send_invitation(
    sender: object, *, user: User, actor: User | None, client_address: str | None, **kwargs: Any
) -> None:
    """Send the invitation an administrator asked for; a refusal propagates to the caller."""
    invitation_send(user=user, actor=actor, client_address=client_address)


@receiver(reset_link_requested, dispatch_uid="recovery-send-reset-link")
def send_reset_link(
    sender: object, *, user: User, actor: User | None, client_address: str | None, **kwargs: Any
) -> None:
    """Send the reset link an administrator asked for; a refusal propagates to the caller."""
    reset_link_send(user=user, actor=actor, client_address=client_address)


@receiver(invitations_wanted, dispatch_uid="recovery-outstanding-invitations")
def outstanding_invitations(
    sender: object, *, user_ids: list[int], **kwargs: Any
) -> dict[int, datetime]:
    """Tell accounts when the outstanding invitation of each of these users expires."""
    return invitations_outstanding(user_ids=user_ids)
