from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .failures import failure_render


class Kind(models.TextChoices):
    # Translators: the kind of a mail in the mail log: a password reset mail.
    RESET = "reset", _("Reset")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    INVITATION = "invitation", _("Invitation")
    # Translators: the kind of a mail in the mail log: a test mail.
    TEST = "test", _("Test")
    MAIL_ALERT = "mail_alert", _("Mail alert")


class Priority(models.IntegerChoices):
    """Which due mail goes first: mail someone waits for now, before a backlog of notices."""

    URGENT = 0, "Urgent"
    BACKLOG = 10, "Backlog"


# Notices and bulk mail wait behind everything else; any other kind (a reset link, a test mail,
# an invitation) is someone waiting for it now.
BACKLOG_KINDS = frozenset({"password_changed"})


def priority_of(kind: str) -> Priority:
    """Return the priority a message of `kind` is claimed with."""
    return Priority.BACKLOG if kind in BACKLOG_KINDS else Priority.URGENT


class State(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed")


class OutgoingMessage(models.Model):
    """One outgoing email and its delivery state: the mail log.

    No body, token or link is stored: the worker renders the message at each attempt from the
    kind, the recipient and the non-secret `context`.
    """

    kind = models.CharField(max_length=20, choices=Kind.choices)
    recipient = models.EmailField(max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    context = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.URGENT)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # While a worker holds the message, until when; a worker killed mid-send leaves this behind
    # and the message becomes due again once it has passed.
    locked_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The last error as msgids and values, to show it in the reader's language (failure_render).
    last_error_words = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    # The MAILERS alias that sends it; empty for the default mailer (the saved mail server).
    mailer = models.CharField(max_length=50, blank=True, default="")
    # Retried because the mail server itself could not be reached (not for a reason of this
    # mail's own): released at once when a probe finds the server answering again.
    waiting_for_server = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            # The claim's order over the mail still to send, and only that.
            models.Index(
                fields=["priority", "next_attempt_at", "id"],
                condition=models.Q(state__in=["queued", "retrying", "sending"]),
                name="delivery_claim_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.state})"

    @property
    def last_error_display(self) -> str:
        """Return the last error in the active language.

        Without stored words (an older row, or a fixed sentence such as why a mail was not sent),
        the stored English is its own msgid: translated when one matches, as stored otherwise.
        """
        if self.last_error_words:
            return failure_render(self.last_error_words)
        return gettext(self.last_error) if self.last_error else ""


class WorkerHeartbeat(models.Model):
    """When each worker process last showed it was alive; /readyz reads it."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"worker {self.worker_id} seen {self.last_seen_at:%H:%M:%S}"


class SendingPause(models.Model):
    """Until when every worker holds back new mail, after a mail server asked to slow down, and
    the lower rate it sends at for some minutes after that.

    One row, shared by all workers through the database; the claims of a send rate limit also
    lock it, so that the workers take turns counting what went out in the last minute.
    """

    until = models.DateTimeField()
    reason = models.TextField(blank=True)
    # After a throttling answer: at most this many mails a minute until `reduced_until`.
    reduced_rate_per_minute = models.PositiveIntegerField(null=True, blank=True)
    reduced_until = models.DateTimeField(null=True, blank=True)
    throttled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sending paused until {self.until:%H:%M:%S}"


class ServerOutage(models.Model):
    """The mail server could not be reached: since when, and when a worker next probes it.

    One row while an outage lasts, shared by all workers: whichever worker finds a probe due
    takes it, and when the server answers, the mail waiting for it is released at once.
    """

    since = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    next_probe_at = models.DateTimeField()
    probe_interval_seconds = models.FloatField()
    # When a probe last found the server answering and released the waiting mail; the outage
    # ends with the next mail the server accepts.
    released_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"mail server unreachable since {self.since:%H:%M:%S}"


class ConnectionSlot(models.Model):
    """One of the connections to the mail server that all workers together may keep open.

    A worker leases slots before it connects, renews them while it sends, and gives them back
    when it closes its connections; a dead worker's slots are free again once the lease passes.
    """

    number = models.PositiveSmallIntegerField(unique=True)
    holder = models.CharField(max_length=64, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"connection slot {self.number}"


# Its own module, so that the queue's services need only call attempt_record().
from .attempts import DeliveryAttempt  # noqa: E402

__all__ = [
    "ConnectionSlot",
    "DeliveryAttempt",
    "Kind",
    "OutgoingMessage",
    "SendingPause",
    "ServerOutage",
    "State",
    "WorkerHeartbeat",
]
