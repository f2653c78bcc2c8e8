"""Tell administrators when reset mails fail for good: a banner, a mail, and the settings page.

Users who ask for a reset are always told a mail was sent (so that no address is revealed),
so nobody else notices when every mail fails: a wrong password, a sender the server refuses.
Mail counts as failing while the newest mail that failed for good (of the account mails, for
a cause other than its own recipient's address) is newer than the newest mail accepted by the
server, test mails included: a successful test after a fix ends the alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.dispatch import receiver

from autommate.accounts.models import Role, User
from autommate.delivery.attempts import DeliveryAttempt, Outcome, mail_failed
from autommate.delivery.composers import DoNotSend, register
from autommate.delivery.models import Kind, OutgoingMessage
from autommate.delivery.rendering import render_email
from autommate.delivery.services import message_record
from autommate.languages import mail_language
from autommate.mailserver.selectors import mail_server_get

# The mails whose failure means users go without: every kind but the test mail and the alert.
ACCOUNT_MAIL_KINDS = (Kind.RESET, Kind.PASSWORD_CHANGED)
# A bad destination address (RFC 3463 X.1.x) is that one recipient's problem, not the server's.
# Written without \b or \d, which PostgreSQL's regular expressions read differently.
_RECIPIENTS_OWN = re.compile(r"(^|[^0-9.])5\.1\.[0-9]{1,3}([^0-9]|$)")


@dataclass(frozen=True)
class MailFailing:
    """Account mails are failing for good: how many, since when, and the last reason."""

    failed: int
    since: datetime
    last_step: str
    last_reason: str


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
    last_sent = DeliveryAttempt.objects.filter(outcome=Outcome.SENT).order_by("-at", "-id").first()
    failures = _setup_failures()
    if last_sent is not None:
        if last_sent.at >= last_failure.at:
            return None
        failures = failures.filter(at__gt=last_sent.at)
    first = failures.order_by("at", "id").first()
    return MailFailing(
        failed=failures.count(),
        since=first.at if first else last_failure.at,
        last_step=last_failure.step,
        last_reason=last_failure.explanation,
    )


@receiver(mail_failed, dispatch_uid="recovery.alerts.mail_failed")
def _alert_administrators(
    sender: Any, attempt: DeliveryAttempt, message: OutgoingMessage, **kwargs: Any
) -> None:
    """When account mails start failing, queue a mail to every active administrator.

    Only once per outage (on its first failure), and only if mail got through before: the
    alert goes the way the last accepted mail went, the saved mail server. Where nothing was
    ever accepted there is no such way, and the banner alone tells.
    """
    if message.kind not in ACCOUNT_MAIL_KINDS:
        return
    state = mail_failing()
    if state is None or state.failed != 1:
        return
    if not DeliveryAttempt.objects.filter(outcome=Outcome.SENT).exists():
        return
    administrators = User.objects.filter(role=Role.ADMINISTRATOR, is_active=True)
    with transaction.atomic():
        for administrator in administrators:
            message_record(
                kind=Kind.MAIL_ALERT,
                recipient=administrator.email,
                user=administrator,
                context={"since": state.since.isoformat(), "step": state.last_step},
            )


@register(Kind.MAIL_ALERT)
def compose_mail_alert(message: OutgoingMessage) -> EmailMultiAlternatives:
    """Tell an administrator that account mails fail, and where to look."""
    user = message.user
    if user is None or not user.is_active or not user.is_admin:
        raise DoNotSend("The recipient is no longer an active administrator.")
    state = mail_failing()
    if state is None:
        raise DoNotSend("Mail got through again before the alert could be sent.")
    return render_email(
        "recovery/emails/mail_alert",
        {"user": user, "state": state},
        to=message.recipient,
        sender=mail_server_get().sender_address,
        language=mail_language(user=user),
    )
