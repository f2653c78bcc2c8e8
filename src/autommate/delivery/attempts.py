"""The history of each mail's delivery: one row per attempt, with its time, step and reply.

The mail log's `OutgoingMessage` says where a mail stands now; its attempts say how it got
there, and stay when a retried mail is finally sent. The outcome functions of the delivery
queue record them, and the mail log page and the API show them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.dispatch import Signal
from django.utils import timezone

from .failures import SendFailure

if TYPE_CHECKING:
    from .models import OutgoingMessage

# Sent with `attempt` when a mail has failed for good, so that a higher domain can alert.
mail_failed = Signal()

# A server's reply is quoted; a misbehaving server must not fill the table.
MAX_REPLY_CHARS = 1000


class Outcome(models.TextChoices):
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed for now"
    FAILED = "failed", "Failed"


class DeliveryAttempt(models.Model):
    """One attempt to deliver an outgoing mail, and what came of it."""

    message = models.ForeignKey(
        "delivery.OutgoingMessage", on_delete=models.CASCADE, related_name="attempt_history"
    )
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # The step of the conversation that failed ("Recipient accepted"); empty when sent.
    step = models.CharField(max_length=100, blank=True)
    # The server's reply, or the error, as reported.
    reply = models.TextField(blank=True)
    # The cause and fix in plain words, as the mail log shows them.
    explanation = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message", "number", "id"]
        indexes = [
            models.Index(fields=["message", "number"]),
            # The send rate limit counts the attempts of the last minute.
            models.Index(fields=["at"], name="delivery_attempt_at"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}: {self.outcome}"


def attempt_record(
    message: OutgoingMessage,
    *,
    outcome: Outcome,
    failure: SendFailure | None = None,
    explanation: str = "",
    reply: str = "",
    next_attempt_at: datetime | None = None,
) -> DeliveryAttempt:
    """Record the attempt the worker holding `message` has just made."""
    attempt = DeliveryAttempt.objects.create(
        message_id=message.pk,
        number=message.attempts,
        outcome=outcome,
        step=failure.step[:100] if failure else "",
        reply=(reply or (failure.reply if failure else ""))[:MAX_REPLY_CHARS],
        explanation=explanation or (failure.text if failure else ""),
        next_attempt_at=next_attempt_at,
    )
    if outcome == Outcome.FAILED:
        mail_failed.send(sender=DeliveryAttempt, attempt=attempt, message=message)
    return attempt
