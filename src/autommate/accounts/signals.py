"""What accounts announce to the domains built on it, which accounts itself never imports."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `services.user_update`, inside its transaction, when a user's email address or active
# flag changes; arguments: `user` (saved) and `fields` (the names of the fields that changed).
# A receiver that raises rolls the change back. A new password needs no announcement: it ends
# sessions and reset links by itself, through the session hash and the links' account state.
credentials_changed = Signal()

# Sent by `services.user_unlock` when an administrator lifts the locks of an account; argument:
# `user`. Receivers lift the limits they keep for it (Forgot Password: the address's mails).
account_unlocked = Signal()

# Sent by `services.password_change` when users changed their own password, inside its
# transaction; arguments: `user`, `client_address`. Receivers tell the owner (Forgot Password
# sends the "password changed" notice, as after a reset).
password_changed = Signal()

# Sent by `services.user_invite` and `services.user_reset_link_send` when an administrator sends
# a user an invitation to set a first password, or a reset link; arguments: `user`, `actor` and
# `client_address`. The receiver (Forgot Password, above accounts) records and queues the mail;
# it refuses by raising a DomainError, which reaches the caller.
invitation_requested = Signal()
reset_link_requested = Signal()

# Sent by `selectors.user_statuses`; argument: `user_ids`. A receiver returns a dict of user id
# to when that user's outstanding invitation expires (past for an expired one).
invitations_wanted = Signal()
