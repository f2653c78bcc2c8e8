"""Tell administrators when reset mails fail for good: a banner, a mail, and the settings page.

Users who ask for a reset are always told a mail was sent (so that no address is revealed),
so nobody else notices when every mail fails: a wrong password, a sender the server refuses.
Mail counts as failing while the newest mail that failed for good (of the account mails, for
a cause other than its own recipient's address) is newer than the newest mail accepted by the
server, test mails included: a successful test after a fix ends the alert.

The alert mail goes through the last mail settings that worked (the mailer `last_working`),
not through the saved ones that fail: after a change to settings that do not work, it still
reaches the administrators the way mail reached people before. Where no settings ever
worked, or the alert fails too, the banner is the only channel, and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.dispatch import receiver
from django.utils.translation import gettext_noop

from autommate.accounts.models import Role, User
from autommate.delivery.attempts import DeliveryAttempt, Outcome, mail_failed
from autommate.delivery.composers import DoNotSend, register
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.delivery.rendering import render_email
from autommate.delivery.services import message_record
from autommate.languages import mail_language
from autommate.mailserver.models import LastWorkingMailServer
from autommate.mailserver.selectors import last_working_get, mail_server_get

# The mails whose failure means users go without: every kind but the test mail and the alert.
ACCOUNT_MAIL_KINDS = (Kind.RESET, Kind.PASSWORD_CHANGED)
# The MAILERS alias of the last mail settings that worked (settings.py).
LAST_WORKING_MAILER = "last_working"
# A bad destination address (RFC 3463 X.1.x) is that one recipient's problem, not the server's.
# Written without \b or \d, which PostgreSQL's regular expressions read differently.
_RECIPIENTS_OWN = re.compile(r"(^|[^0-9.])5\.1\.[0-9]{1,3}([^0-9]|$)")


class AlertMail:
    """What became of the alert mail of the outage under way, in words for the banner."""

    NONE = "none"  # No settings ever worked: there is no way to send it.
    NOT_SENT = "not_sent"  # None was queued for this outage (it began before an upgrade).
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class MailFailing:
    """Account mails are failing for good: how many, since when, and the last reason; and
    what became of the alert mail to administrators (`alert`, one of AlertMail's), through
    which server (`alert_server`, host:port)."""

    failed: int
    since: datetime
    last_step: str
    last_reason: str
    alert: str = AlertMail.NONE
    alert_server: str = ""

    @property
    def banner_only(self) -> bool:
        """Whether this banner is the only way administrators are told."""
        return self.alert in {AlertMail.NONE, AlertMail.NOT_SENT, AlertMail.FAILED}


def _setup_failures() -> Any:
    return (
        DeliveryAttempt.objects.filter(outcome=Outcome.FAILED, message__kind__in=ACCOUNT_MAIL_KINDS)
        .exclude(reply__regex=_RECIPIENTS_OWN.pattern)
        .order_by("-at", "-id")
    )


def mail_failing() -> MailFailing | None:
    """Return the failing state of account mails, or None while they get through."""
    last_failure = _setup_failures().first()
    if last_failure is None:
        return None
    # The alert itself goes through other settings: its acceptance says nothing of the saved.
    last_sent = (
        DeliveryAttempt.objects.filter(outcome=Outcome.SENT)
        .exclude(message__kind=Kind.MAIL_ALERT)
        .order_by("-at", "-id")
        .first()
    )
    failures = _setup_failures()
    if last_sent is not None:
        if last_sent.at >= last_failure.at:
            return None
        failures = failures.filter(at__gt=last_sent.at)
    first = failures.order_by("at", "id").first()
    since = first.at if first else last_failure.at
    alert, server = _alert_mail(since)
    return MailFailing(
        failed=failures.count(),
        since=since,
        last_step=last_failure.step,
        last_reason=last_failure.explanation,
        alert=alert,
        alert_server=server,
    )


def _alert_mail(since: datetime) -> tuple[str, str]:
    """Return what became of the alert mails of the outage that began at `since`, and the
    server of the last working settings they go through."""
    states = set(
        OutgoingMessage.objects.filter(
            kind=Kind.MAIL_ALERT, created_at__gte=since - timedelta(seconds=1)
        ).values_list("state", flat=True)
    )
    last = LastWorkingMailServer.objects.filter(pk=1).values_list("server", flat=True).first()
    if State.SENT in states:
        return AlertMail.SENT, last or ""
    if states - {State.FAILED}:
        return AlertMail.QUEUED, last or ""
    if states:
        return AlertMail.FAILED, last or ""
    return (AlertMail.NOT_SENT, last) if last else (AlertMail.NONE, "")


@receiver(mail_failed, dispatch_uid="recovery.alerts.mail_failed")
def _alert_administrators(
    sender: Any, attempt: DeliveryAttempt, message: OutgoingMessage, **kwargs: Any
) -> None:
    """When account mails start failing, queue a mail to every active administrator.

    Only once per outage (on its first failure), and only if some mail settings worked
    before: the alert goes through the last settings that did. Where none ever did there is
    no such way, and the banner alone tells.
    """
    if message.kind not in ACCOUNT_MAIL_KINDS:
        return
    state = mail_failing()
    if state is None or state.failed != 1:
        return
    if last_working_get() is None:
        return
    administrators = User.objects.filter(role=Role.ADMINISTRATOR, is_active=True)
    with transaction.atomic():
        for administrator in administrators:
            message_record(
                kind=Kind.MAIL_ALERT,
                recipient=administrator.email,
                user=administrator,
                context={"since": state.since.isoformat(), "step": state.last_step},
                mailer=LAST_WORKING_MAILER,
            )


@register(Kind.MAIL_ALERT)
def compose_mail_alert(message: OutgoingMessage) -> EmailMultiAlternatives:
    """Tell an administrator that account mails fail, and where to look."""
    user = message.user
    if user is None or not user.is_active or not user.is_admin:
        # Stored in English in the mail log, which translates it for its reader.
        raise DoNotSend(gettext_noop("The recipient is no longer an active administrator."))
    state = mail_failing()
    if state is None:
        raise DoNotSend(gettext_noop("Mail got through again before the alert could be sent."))
    # From the sender the last working settings sent as: the one their server accepts.
    last = last_working_get() if message.mailer == LAST_WORKING_MAILER else None
    sender = (last.mail_server if last else mail_server_get()).sender_address
    return render_email(
        "recovery/emails/mail_alert",
        {"user": user, "state": state},
        to=message.recipient,
        sender=sender,
        language=mail_language(user=user),
    )
