"""The history of each mail's delivery: one row per attempt, with its time, step and reply.

The mail log's `OutgoingMessage` says where a mail stands now; its attempts say how it got
there, and stay when a retried mail is finally sent. The outcome functions of the delivery
queue record them, and the mail log page and the API show them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from .failures import SendFailure, failure_render

if TYPE_CHECKING:
    from .models import OutgoingMessage

# Sent with `attempt` when a mail has failed for good, so that a higher domain can alert.
mail_failed = Signal()
# Sent with `attempt` and `sent_through` when the server accepted a mail: `sent_through` is
# what the mail backend says it sent through (opaque here; empty when it says nothing), so that
# the domain that owns the backend can keep the settings that work.
mail_sent = Signal()

# A server's reply is quoted; a misbehaving server must not fill the table.
MAX_REPLY_CHARS = 1000


class Outcome(models.TextChoices):
    SENT = "sent", gettext_lazy("Sent")
    RETRYING = "retrying", gettext_lazy("Failed for now")
    FAILED = "failed", gettext_lazy("Failed")


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
    # The cause and fix in plain words, in English, as the mail log shows them.
    explanation = models.TextField(blank=True)
    # The same as msgids and values, to show it in the reader's language (failure_render).
    explanation_words = models.JSONField(default=dict, blank=True)
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

    @property
    def step_display(self) -> str:
        """Return the failed step's name in the active language.

        `step` is stored as the step's English label, which is its msgid in the mail server's
        catalogue; a label the catalogue does not know is shown as stored.
        """
        return gettext(self.step) if self.step else ""

    @property
    def explanation_display(self) -> str:
        """Return the cause and fix in the active language.

        Without stored words (an older attempt, or a fixed sentence such as why a mail was not
        sent), the stored English is its own msgid: translated when one matches, shown as stored
        otherwise.
        """
        if self.explanation_words:
            return failure_render(self.explanation_words)
        return gettext(self.explanation) if self.explanation else ""


def attempt_record(
    message: OutgoingMessage,
    *,
    outcome: Outcome,
    failure: SendFailure | None = None,
    explanation: str = "",
    explanation_words: dict[str, Any] | None = None,
    reply: str = "",
    next_attempt_at: datetime | None = None,
    sent_through: str = "",
) -> DeliveryAttempt:
    """Record the attempt the worker holding `message` has just made."""
    attempt = DeliveryAttempt.objects.create(
        message_id=message.pk,
        number=message.attempts,
        outcome=outcome,
        step=failure.step[:100] if failure else "",
        reply=(reply or (failure.reply if failure else ""))[:MAX_REPLY_CHARS],
        explanation=explanation or (failure.text if failure else ""),
        explanation_words=(
            explanation_words
            if explanation_words is not None
            else (failure.words if failure and not explanation else {})
        ),
        next_attempt_at=next_attempt_at,
    )
    if outcome == Outcome.FAILED:
        mail_failed.send(sender=DeliveryAttempt, attempt=attempt, message=message)
    elif outcome == Outcome.SENT:
        mail_sent.send(
            sender=DeliveryAttempt, attempt=attempt, message=message, sent_through=sent_through
        )
    return attempt


def attempts_record_accepted(accepted: list[tuple[OutgoingMessage, str, str]]) -> None:
    """Record the attempts the server has just accepted, each `(message, reply, sent_through)`,
    with one insert; as `attempt_record` does for each."""
    now = timezone.now()
    attempts = DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                message_id=message.pk,
                number=message.attempts,
                at=now,
                outcome=Outcome.SENT,
                reply=reply[:MAX_REPLY_CHARS],
            )
            for message, reply, _ in accepted
        ]
    )
    for attempt, (message, _, sent_through) in zip(attempts, accepted, strict=True):
        mail_sent.send(
            sender=DeliveryAttempt, attempt=attempt, message=message, sent_through=sent_through
        )
