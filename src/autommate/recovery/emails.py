"""The account mails of Forgot Password, composed by the worker at each delivery attempt.

Each is in its recipient's language (`languages.mail_language`): their own Language, else the
one recorded with the request (a reset asked for on Forgot Password, a password changed on the
account page), else the installation's default, as for invitations and links an administrator
sends: never the language of the page the administrator was on.
"""

from __future__ import annotations

from datetime import datetime

from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from django.utils.translation import gettext_noop

from autommate.accounts.models import User
from autommate.delivery.composers import (
    DoNotSend,
    prepared,
    register,
    register_preparer,
    round_value,
)
from autommate.delivery.models import Kind, OutgoingMessage
from autommate.delivery.rendering import render_email
from autommate.delivery.services import register_before_claim
from autommate.languages import mail_language
from autommate.mailserver.selectors import mail_server_get

from . import services
from .selectors import forgot_password_settings_get

# A delivery turns waiting forgot-password requests into reset mails before each claim.
register_before_claim(services.reset_requests_process_waiting)

# Why the mail of a link an administrator sent is not sent after all, as the mail log says. The
# reasons a mail is not sent are stored in English; the mail log translates them for its reader.
LINK_GONE = gettext_noop(
    "Not sent: the link was used, replaced by a newer one, voided or expired before this mail "
    "could be sent."
)


def _sender() -> str:
    """Return the From header of the mails, read once in a while by a delivery round."""
    return round_value("sender", lambda: mail_server_get().sender_address)


def _recipient_unchanged(message: OutgoingMessage) -> User:
    user = message.user
    if user is None or not user.is_active:
        raise DoNotSend(gettext_noop("The account is no longer active."))
    if user.email != message.recipient:
        raise DoNotSend(gettext_noop("The account's email address changed after the request."))
    return user


def _administrator_link(message: OutgoingMessage, user: User) -> tuple[str, datetime]:
    """Give the link an administrator sent its token; return its URL and expiry."""
    try:
        link, token = services.link_token_give(link_id=message.context["link"], user=user)
    except services.InvalidResetLink:
        raise DoNotSend(LINK_GONE) from None
    return services.link_url(token, link.kind), link.expires_at


def _requested_link_expires_at(message: OutgoingMessage) -> datetime:
    """When the link of a reset mail asked for on Forgot Password expires; DoNotSend once past."""
    requested_at = datetime.fromisoformat(message.context["requested_at"])
    expires_at = services.reset_link_expires_at(
        requested_at,
        lifetime_minutes=round_value(
            "reset-link-lifetime", lambda: forgot_password_settings_get().link_lifetime_minutes
        ),
    )
    if expires_at <= timezone.now():
        raise DoNotSend(gettext_noop("The reset link expired before the mail could be sent."))
    return expires_at


@register_preparer(Kind.RESET)
def prepare_reset(messages: list[OutgoingMessage]) -> dict[int, tuple[str, datetime]]:
    """Issue the links of the reset mails a delivery is about to compose, in one transaction.

    Only for the mails their composer would issue a link for; the others (not to be sent any
    more, or a link an administrator sent) are left to it. Return message id -> (token, expiry).
    """
    wanted: dict[int, services.LinkWanted] = {}
    for message in messages:
        if "link" in message.context:
            continue
        try:
            user = _recipient_unchanged(message)
            expires_at = _requested_link_expires_at(message)
        except DoNotSend:
            continue
        language = message.context.get("language", "")
        wanted[message.pk] = services.LinkWanted(user, expires_at, language)
    if not wanted:
        return {}
    try:
        tokens = services.links_issue(list(wanted.values()))
    except services.ForgotPasswordDisabled:
        return {}  # Each composer finds it so and says why its mail is not sent.
    return {
        pk: (token, link.expires_at)
        for (pk, link), token in zip(wanted.items(), tokens, strict=True)
    }


@register(Kind.RESET)
def compose_reset(message: OutgoingMessage) -> EmailMultiAlternatives:
    """Issue a fresh reset link (or take the one issued for its batch) and put it in the mail."""
    user = _recipient_unchanged(message)
    if "link" in message.context:
        link_url, expires_at = _administrator_link(message, user)
        lifetime = max(1, round((expires_at - timezone.now()).total_seconds() / 60))
        return render_email(
            "recovery/emails/reset_password",
            {
                "user": user,
                "link": link_url,
                "lifetime_minutes": lifetime,
                "by_administrator": True,
            },
            to=user.email,
            sender=_sender(),
            language=mail_language(user=user),
        )
    requested_in = message.context.get("language", "")
    issued: tuple[str, datetime] | None = prepared(message)
    if issued is not None:
        token, expires_at = issued
    else:
        expires_at = _requested_link_expires_at(message)
        try:
            token = services.link_issue(user=user, expires_at=expires_at, language=requested_in)
        except services.ForgotPasswordDisabled:
            raise DoNotSend(services.DROPPED_SWITCHED_OFF) from None
    lifetime = max(1, round((expires_at - timezone.now()).total_seconds() / 60))
    return render_email(
        "recovery/emails/reset_password",
        {
            "user": user,
            "link": services.link_url(token),
            "lifetime_minutes": lifetime,
            "by_administrator": False,
        },
        to=user.email,
        sender=_sender(),
        language=mail_language(user=user, requested=requested_in),
    )


@register(Kind.INVITATION)
def compose_invitation(message: OutgoingMessage) -> EmailMultiAlternatives:
    """Give the invitation its token and put it in the invitation mail."""
    user = _recipient_unchanged(message)
    if user.has_usable_password():
        raise DoNotSend(
            gettext_noop("Not sent: the user set a password before this invitation could be sent.")
        )
    link_url, expires_at = _administrator_link(message, user)
    return render_email(
        "recovery/emails/invitation",
        {"user": user, "link": link_url, "expires_at": expires_at},
        to=user.email,
        sender=_sender(),
        language=mail_language(user=user),
    )


@register(Kind.PASSWORD_CHANGED)
def compose_password_changed(message: OutgoingMessage) -> EmailMultiAlternatives:
    """Tell the owner that the password changed, when and from where; no link, no secret."""
    user = message.user
    if user is None:
        raise DoNotSend(gettext_noop("The account no longer exists."))
    return render_email(
        "recovery/emails/password_changed",
        {
            "user": user,
            "changed_at": datetime.fromisoformat(message.context["changed_at"]),
            "client_address": message.context.get("client_address", ""),
            # Changed on /account/ by someone signed in (who stays so), or by a reset link.
            "on_account_page": message.context.get("via") == "account",
        },
        to=message.recipient,
        sender=_sender(),
        language=mail_language(user=user, requested=message.context.get("language")),
    )
