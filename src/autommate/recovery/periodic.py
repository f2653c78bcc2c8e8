"""The work Forgot Password has the workers do now and then (delivery's periodic jobs)."""

from __future__ import annotations

from autommate.delivery.periodic import register_periodic

from .services import invitations_expired_note

# Invitations last days; noting their expiry within a few minutes is soon enough.
EXPIRY_SWEEP_EVERY_SECONDS = 5 * 60

register_periodic(
    "recovery.invitations_expired",
    every_seconds=EXPIRY_SWEEP_EVERY_SECONDS,
    done_message="Recorded %d invitations that expired unused",
)(invitations_expired_note)
