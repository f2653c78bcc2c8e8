"""Forgot Password: the request, the reset link and its token, and completing the reset.

The request path validates, rate-limits, records and enqueues; it never looks the address up
and never talks SMTP, so every address gets the same answer in the same time. The worker looks
the address up and records the reset mail; the link's token is issued when the mail is composed.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from autommate import metrics
from autommate.accounts.devices import account_digest, device_for
from autommate.accounts.models import User, email_key
from autommate.accounts.services import password_set
from autommate.accounts.signin import sign_in_unlock
from autommate.accounts.tokens import api_tokens_revoke_all
from autommate.audit.models import Action
from autommate.audit.services import address_fingerprint, audit_record, audit_record_repeated
from autommate.client_address import client_network
from autommate.delivery.models import Kind
from autommate.delivery.services import NewMessage, message_record, messages_record
from autommate.errors import DomainError
from autommate.languages import language_supported
from autommate.ratelimits import services as ratelimits

from .models import ForgotPasswordSettings, LinkKind, ResetLink, ResetRequest
from .selectors import (
    account_state,
    forgot_password_settings_get,
    link_find,
    link_refusal,
    link_usable,
    mail_not_ready_reason,
    token_hash,
)

TOKEN_BYTES = 32  # 256 bits from the operating system's CSPRNG.
# The limits of Forgot Password, by what they count.
CLIENT_SCOPE = "reset-client"
ADDRESS_SCOPE = "reset-address"
DEVICE_SCOPE = "reset-device"
LINK_FAILURE_SCOPE = "reset-link-failure"
# What every front door answers an accepted request with, whether or not the address has an account.
SENT_MESSAGE = gettext_lazy(
    "A reset email has been sent to the address you entered, if it belongs to an account. "
    "Check your inbox and follow the link in it."
)

# What a refused request says happened: the earlier requests may well have sent a mail already.
RATE_LIMITED_REASON = gettext_lazy(
    "Reset links have been asked for too often. A reset email may already be on its way: "
    "check your inbox and your spam folder before asking again."
)


class ForgotPasswordDisabled(DomainError):
    code = "forgot_password_disabled"
    status = HTTPStatus.NOT_FOUND
    default_message = gettext_lazy(
        "Forgot Password is switched off. Ask an administrator to reset your password."
    )


class MailNotVerified(DomainError):
    """Forgot Password cannot be switched on while the mail settings are not proven."""

    code = "mail_not_verified"
    status = HTTPStatus.CONFLICT


class InvalidResetLink(DomainError):
    code = "invalid_reset_link"
    default_message = gettext_lazy("This reset link is invalid or has expired.")


class InvalidInvitation(InvalidResetLink):
    default_message = gettext_lazy(
        "This invitation link is invalid or has expired. Ask an administrator to send you a "
        "new invitation."
    )


class CannotSendLink(DomainError):
    """An administrator asked for a link that this account cannot be sent."""

    code = "cannot_send_link"
    status = HTTPStatus.CONFLICT


# What the mail log says of a reset mail that was still waiting when the feature was switched off.
# Stored in English; the mail log translates it for its reader.
DROPPED_SWITCHED_OFF = gettext_noop(
    "Not sent: Forgot Password was switched off before this reset mail could be sent."
)


# -- The request -------------------------------------------------------------------------------


def forgot_password_ensure_enabled(*, requesting: bool = False) -> None:
    """Raise ForgotPasswordDisabled unless Forgot Password is switched on.

    `requesting`: the caller is a request for a reset mail, counted as refused while it is off.
    """
    if not forgot_password_settings_get().enabled:
        if requesting:
            metrics.FORGOT_PASSWORD_REQUESTS.labels(outcome="feature_off").inc()
        raise ForgotPasswordDisabled


def reset_request(
    *, address: str, client_address: str, device_cookie: str = "", language: str = ""
) -> None:
    """Accept a forgot-password request for `address`, whether or not it has an account.

    `language` is the one the request was made in (the page's, or the API call's
    Accept-Language): the mail is in it unless the user chose a Language of their own.

    Only accepted requests count toward the limits, so refused ones never make a limit last
    longer. A browser that has signed in to the account before (its device cookie) first uses
    its own allowance of reset mails, which strangers cannot spend; the mails a stranger can
    cause stay within the address's limit.
    """
    forgot_password_ensure_enabled(requesting=True)
    key = email_key(address)
    decision = None
    device = device_for(cookie=device_cookie, address=address)
    if device is not None:
        decision = ratelimits.attempt(
            ratelimits.Counter(
                f"{DEVICE_SCOPE}:{device.account}", device.nonce, settings.LIMIT_RESET_PER_ADDRESS
            )
        )
    if decision is None or not decision.allowed:
        network = client_network(client_address)
        decision = ratelimits.attempt(
            ratelimits.Counter(CLIENT_SCOPE, network, settings.LIMIT_RESET_PER_CLIENT),
            ratelimits.Counter(ADDRESS_SCOPE, key, settings.LIMIT_RESET_PER_ADDRESS),
        )
    if not decision.allowed:
        if CLIENT_SCOPE in decision.full:
            audit_record_repeated(
                Action.RATE_LIMITED,
                repeats=f"{CLIENT_SCOPE}:{network}",
                client_address=client_address,
                limit=CLIENT_SCOPE,
            )
        else:
            audit_record_repeated(
                Action.RATE_LIMITED,
                repeats=f"{ADDRESS_SCOPE}:{key}",
                client_address=client_address,
                limit=ADDRESS_SCOPE,
                address=address_fingerprint(key),
            )
        metrics.FORGOT_PASSWORD_REQUESTS.labels(outcome="rate_limited").inc()
        raise ratelimits.RateLimited(decision.retry_after_seconds, reason=str(RATE_LIMITED_REASON))
    # Not at the top: tasks imports this module, and this module's own reset_request_process
    # would shadow the task.
    from .tasks import reset_request_process

    with transaction.atomic():
        request = ResetRequest.objects.create(
            address=address,
            client_address=client_address,
            language=language_supported(language) or "",
        )
        audit_record(
            Action.RESET_REQUESTED,
            client_address=client_address,
            address=address_fingerprint(key),
        )
        reset_request_process.enqueue(request.pk)
    metrics.FORGOT_PASSWORD_REQUESTS.labels(outcome="accepted").inc()


def _reset_mail(request: ResetRequest, user: User) -> NewMessage:
    """The reset mail a processed request asks for: composed, with its link, at send time."""
    return NewMessage(
        kind=Kind.RESET,
        recipient=user.email,
        user=user,
        context={"requested_at": request.created_at.isoformat(), "language": request.language},
    )


def reset_request_process(request_id: int) -> None:
    """In the worker: look the address up and, for an active account, record the reset mail."""
    if not ResetRequest.objects.filter(pk=request_id, processed_at__isnull=True).exists():
        # Processed already, most often together with others before a delivery claim: a read
        # says so without a write transaction (a processed request never becomes unprocessed).
        return
    with transaction.atomic():
        request = ResetRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.processed_at is not None:
            return
        user = User.objects.filter(email_key=email_key(request.address), is_active=True).first()
        request.address = ""  # The typed spelling is not kept once it has been resolved.
        request.processed_at = timezone.now()
        request.save(update_fields=["address", "processed_at"])
        if user is not None:
            messages_record([_reset_mail(request, user)])


def reset_requests_process_waiting(*, limit: int) -> int:
    """Process up to `limit` forgot-password requests whose task has not run yet, oldest first.

    A delivery busy with a backlog calls this before each claim, so that a reset requested
    meanwhile is mailed within seconds rather than after the backlog; the request's own task
    then finds it processed. The requests are taken together, under their row locks (skipping
    those another worker holds), with one look-up of their accounts and one insert of their
    mails. Return how many were processed.
    """
    with transaction.atomic():
        waiting = ResetRequest.objects.filter(processed_at__isnull=True).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            waiting = waiting.select_for_update(skip_locked=True)
        requests = list(waiting.only("pk", "address", "created_at", "language")[:limit])
        if not requests:
            return 0
        keys = [email_key(request.address) for request in requests]
        users = {
            user.email_key: user
            for user in User.objects.filter(email_key__in=set(keys), is_active=True)
        }
        # The typed spelling is not kept once it has been resolved.
        ResetRequest.objects.filter(pk__in=[request.pk for request in requests]).update(
            address="", processed_at=timezone.now()
        )
        messages_record(
            [
                _reset_mail(request, user)
                for request, key in zip(requests, keys, strict=True)
                if (user := users.get(key)) is not None
            ]
        )
    return len(requests)


def reset_limits_lift(*, user: User) -> None:
    """Forget the reset mails counted for the address of `user`, from strangers and its browsers."""
    ratelimits.reset(ADDRESS_SCOPE, user.email_key)
    ratelimits.reset_scope(f"{DEVICE_SCOPE}:{account_digest(user.email)}")


# -- The link and its token --------------------------------------------------------------------


def link_issue(*, user: User, expires_at: datetime, language: str = "") -> str:
    """Issue a reset link token for `user`, voiding older ones; return the token (not stored).

    Raise ForgotPasswordDisabled while Forgot Password is switched off. The switch's row is
    locked while the link is stored, so a link is never issued after a switch-off voided the
    others.
    """
    return links_issue([LinkWanted(user=user, expires_at=expires_at, language=language)])[0]


@dataclass(frozen=True)
class LinkWanted:
    user: User
    expires_at: datetime
    language: str = ""


def links_issue(wanted: Sequence[LinkWanted]) -> list[str]:
    """Issue the reset links of several mails in one transaction; return their tokens in order.

    As if `link_issue` ran for each in turn: each voids the user's older links, so of two for
    one user only the later works. A delivery issues the links of the reset mails it is about to
    compose together (`emails.prepare_reset`): one write transaction instead of one per mail.
    """
    tokens = [secrets.token_urlsafe(TOKEN_BYTES) for _ in wanted]
    now = timezone.now()
    latest = {link.user.pk: position for position, link in enumerate(wanted)}
    # Built before the transaction, which then holds the write lock for its statements alone.
    links = [
        ResetLink(
            user=link.user,
            token_hash=token_hash(token),
            account_state=account_state(link.user),
            language=language_supported(link.language) or "",
            created_at=now,
            expires_at=link.expires_at,
            voided_at=None if latest[link.user.pk] == position else now,
        )
        for position, (link, token) in enumerate(zip(wanted, tokens, strict=True))
    ]
    with transaction.atomic():
        switch = ForgotPasswordSettings.objects.select_for_update().filter(pk=1).first()
        if switch is None or not switch.enabled:
            raise ForgotPasswordDisabled
        ResetLink.objects.filter(user__in=latest, used_at=None, voided_at=None).update(
            voided_at=now
        )
        ResetLink.objects.bulk_create(links)
    return tokens


def links_void(*, user: User) -> int:
    """Void every outstanding reset link of `user` for good; return how many there were.

    The account-state digest already stops a link when the email or active flag changes, but
    would let it work again once they change back; voiding makes the change final.
    """
    outstanding = ResetLink.objects.filter(user=user, used_at=None, voided_at=None)
    return outstanding.update(voided_at=timezone.now())


def link_url(token: str, kind: str = LinkKind.RESET) -> str:
    if kind == LinkKind.INVITATION:
        return f"{settings.BASE_URL}/invitation/{token}/"
    return f"{settings.BASE_URL}/reset-password/{token}/"


def link_failure(*, client_address: str) -> bool:
    """Count a wrong or expired link from `client_address`; return whether it is now throttled."""
    decision = ratelimits.hit(
        LINK_FAILURE_SCOPE, client_network(client_address), settings.LIMIT_RESET_LINK_FAILURES
    )
    audit_record(Action.RESET_LINK_INVALID, client_address=client_address)
    return not decision.allowed or bool(decision.full)


def link_open(*, token: str, client_address: str, kind: str = LinkKind.RESET) -> ResetLink:
    """Return the usable link of `kind` for `token`; never uses it up.

    Raise ForgotPasswordDisabled for a reset link the user asked for while Forgot Password is
    switched off (invitations and links an administrator sent work either way), RateLimited while
    `client_address` has used too many wrong links, and count a wrong one before raising
    InvalidResetLink (InvalidInvitation for an invitation) for it.
    """
    ratelimits.peek(
        LINK_FAILURE_SCOPE, client_network(client_address), settings.LIMIT_RESET_LINK_FAILURES
    ).enforce()
    link = link_find(token=token)
    if link is not None and link.kind != kind:
        link = None
    if link.needs_forgot_password if link is not None else kind == LinkKind.RESET:
        # A reset link is refused for being switched off before it is judged, as it always was.
        forgot_password_ensure_enabled()
    if link is None:
        metrics.RESET_LINKS.labels(event=link_refusal(token=token)).inc()
        _expired_invitation_opened(token=token, client_address=client_address)
        link_failure(client_address=client_address)
        raise InvalidInvitation if kind == LinkKind.INVITATION else InvalidResetLink
    metrics.RESET_LINKS.labels(event="opened").inc()
    return link


def _expired_invitation_opened(*, token: str, client_address: str) -> None:
    """Note it when the link opened was an invitation that expired unused."""
    if not token or len(token) > 128:
        return
    link = _expired_invitations().filter(token_hash=token_hash(token)).first()
    if link is not None:
        _invitation_expiry_note(link, client_address=client_address)


def _expired_invitations() -> QuerySet[ResetLink]:
    """The invitations that expired unused and are not yet noted as expired."""
    return ResetLink.objects.select_related("user").filter(
        kind=LinkKind.INVITATION,
        used_at=None,
        voided_at=None,
        expiry_noted_at=None,
        expires_at__lte=timezone.now(),
    )


# How many expired invitations one sweep notes at most; the next sweep goes on.
EXPIRY_SWEEP_BATCH = 500


def invitations_expired_note() -> int:
    """Record an "invitation expired" audit event for each invitation that expired unused since
    the last sweep; return how many.

    Each invitation is noted once (`expiry_noted_at`), also when several workers sweep at once
    or the link was opened after it expired. An invitation that was used, voided (by a newer
    one, deactivation or an email change) or outrun by its account's change (a password set
    another way) never counts as expired: the last is noted without an event.
    """
    noted = 0
    for link in _expired_invitations().order_by("expires_at", "pk")[:EXPIRY_SWEEP_BATCH]:
        if _invitation_expiry_note(link):
            noted += 1
    return noted


def _invitation_expiry_note(link: ResetLink, *, client_address: str | None = None) -> bool:
    """Note that `link` expired and record its event; return whether this call noted it."""
    with transaction.atomic():
        # Only the one run whose update finds it still un-noted records the event.
        if not ResetLink.objects.filter(pk=link.pk, expiry_noted_at=None).update(
            expiry_noted_at=timezone.now()
        ):
            return False
        if not hmac.compare_digest(link.account_state, account_state(link.user)):
            return False  # The account changed before the time ran out: it did not expire.
        audit_record(
            Action.INVITATION_EXPIRED,
            client_address=client_address,
            target=link.user.email,
            sent_at=link.created_at.isoformat(),
            expired_at=link.expires_at.isoformat(),
            **({"opened": True} if client_address else {}),
        )
    return True


# -- Completing the reset ----------------------------------------------------------------------


def reset_complete(
    *,
    token: str = "",
    token_digest: str = "",
    password: str,
    client_address: str,
    kind: str = LinkKind.RESET,
) -> User:
    """Set the new password through a link of `kind`, use the link up and, for a reset, notify
    the owner.

    The link is given by its token, or by the token's hash (`token_digest`) as a session keeps it.
    A password the policy refuses raises ValidationError for the field `new_password`; a reset
    link the user asked for, while Forgot Password is switched off, ForgotPasswordDisabled.
    """
    digest = token_digest or token_hash(token)
    invalid = InvalidInvitation if kind == LinkKind.INVITATION else InvalidResetLink
    with transaction.atomic():
        # Locked like link_issue does, so a reset cannot complete after a switch-off.
        switch = ForgotPasswordSettings.objects.select_for_update().filter(pk=1).first()
        link = (
            ResetLink.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=digest, kind=kind)
            .first()
        )
        needs_switch = link.needs_forgot_password if link is not None else kind == LinkKind.RESET
        if needs_switch and (switch is None or not switch.enabled):
            raise ForgotPasswordDisabled
        if link is None or not link_usable(link=link):
            metrics.RESET_LINKS.labels(event=link_refusal(token_digest=digest)).inc()
            raise invalid
        user = link.user
        try:
            password_set(user=user, password=password, client_address=client_address, via=kind)
        except ValidationError as error:
            raise ValidationError({"new_password": error.messages}) from None
        now = timezone.now()
        link.used_at = now
        link.save(update_fields=["used_at"])
        ResetLink.objects.filter(user=user, used_at=None, voided_at=None).update(voided_at=now)
        api_tokens_revoke_all(user=user)
        sign_in_unlock(user=user)
        if kind == LinkKind.INVITATION:
            # The first password: there is no earlier one whose change the owner must hear of.
            audit_record(Action.INVITATION_USED, client_address=client_address, target=user.email)
        else:
            audit_record(Action.RESET_COMPLETED, client_address=client_address, target=user.email)
            password_changed_notify(
                user=user, client_address=client_address, changed_at=now, language=link.language
            )
    metrics.RESET_LINKS.labels(event="used").inc()
    return user


# -- Links an administrator sends --------------------------------------------------------------


def invitation_send(
    *, user: User, actor: User | None = None, client_address: str | None = None
) -> ResetLink:
    """Send `user` an invitation to set a first password, voiding the links sent before.

    Works whether or not Forgot Password is on. Refused (CannotSendLink, MailNotVerified,
    RateLimited) for a deactivated account, one that has a password already, while the mail
    settings are not verified, and beyond the limit of mails to the address.
    """
    if not user.is_active:
        raise CannotSendLink(
            gettext("%(email)s is deactivated: activate the account first.") % {"email": user.email}
        )
    if user.has_usable_password():
        raise CannotSendLink(
            gettext("%(email)s has a password already: send a password reset link instead.")
            % {"email": user.email}
        )
    lifetime = timedelta(days=forgot_password_settings_get().invitation_lifetime_days)
    resent = ResetLink.objects.filter(user=user, kind=LinkKind.INVITATION).exists()
    return _administrator_link_send(
        user=user,
        kind=LinkKind.INVITATION,
        lifetime=lifetime,
        actor=actor,
        client_address=client_address,
        action=Action.INVITATION_RESENT if resent else Action.INVITATION_SENT,
    )


def reset_link_send(
    *, user: User, actor: User | None = None, client_address: str | None = None
) -> ResetLink:
    """Send `user` a reset link to their own stored address, on an administrator's word.

    Works whether or not Forgot Password is on; limited like the user's own requests (the
    address's limit, and the sender's client limit) and recorded with who sent it.
    """
    if not user.is_active:
        raise CannotSendLink(
            gettext("%(email)s is deactivated: activate the account first.") % {"email": user.email}
        )
    lifetime = timedelta(minutes=forgot_password_settings_get().link_lifetime_minutes)
    return _administrator_link_send(
        user=user,
        kind=LinkKind.RESET,
        lifetime=lifetime,
        actor=actor,
        client_address=client_address,
        action=Action.RESET_LINK_SENT,
    )


def _administrator_link_send(
    *,
    user: User,
    kind: LinkKind,
    lifetime: timedelta,
    actor: User | None,
    client_address: str | None,
    action: Action,
) -> ResetLink:
    reason = mail_not_ready_reason()
    if reason:
        raise MailNotVerified(
            gettext("No mail can be sent while the mail settings are not verified. %(reason)s")
            % {"reason": reason}
        )
    counters = [ratelimits.Counter(ADDRESS_SCOPE, user.email_key, settings.LIMIT_RESET_PER_ADDRESS)]
    if client_address:
        counters.append(
            ratelimits.Counter(
                CLIENT_SCOPE, client_network(client_address), settings.LIMIT_RESET_PER_CLIENT
            )
        )
    decision = ratelimits.attempt(*counters)
    if not decision.allowed:
        audit_record_repeated(
            Action.RATE_LIMITED,
            repeats=f"{ADDRESS_SCOPE}:{user.email_key}",
            actor=actor,
            client_address=client_address,
            limit=ADDRESS_SCOPE,
            address=address_fingerprint(user.email_key),
        )
        raise ratelimits.RateLimited(
            decision.retry_after_seconds,
            reason=gettext("Too many links have been sent to %(email)s lately.")
            % {"email": user.email},
        )
    now = timezone.now()
    with transaction.atomic():
        ResetLink.objects.filter(user=user, used_at=None, voided_at=None).update(voided_at=now)
        link = ResetLink.objects.create(
            user=user,
            kind=kind,
            by_administrator=True,
            token_hash=None,
            account_state=account_state(user),
            created_at=now,
            expires_at=now + lifetime,
        )
        audit_record(
            action,
            actor=actor,
            client_address=client_address,
            target=user.email,
            expires_at=link.expires_at.isoformat(),
        )
        message_record(
            kind=Kind.INVITATION if kind == LinkKind.INVITATION else Kind.RESET,
            recipient=user.email,
            user=user,
            context={"link": link.pk},
        )
    return link


def link_token_give(*, link_id: int, user: User) -> tuple[ResetLink, str]:
    """Give the link an administrator sent its token, as its mail is composed; return both.

    Each attempt to send the mail gives a new token, so that only the one in the mail last sent
    works. Raise InvalidResetLink when the link can no longer be used (used, replaced by a newer
    one, voided, expired, or the account changed).
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        link = (
            ResetLink.objects.select_for_update()
            .select_related("user")
            .filter(pk=link_id, user=user, by_administrator=True)
            .first()
        )
        if link is None or not link_usable(link=link):
            raise InvalidResetLink
        link.token_hash = token_hash(token)
        link.save(update_fields=["token_hash"])
    return link, token


def password_changed_notify(
    *,
    user: User,
    client_address: str | None,
    changed_at: datetime | None = None,
    via: str = "reset",
    language: str = "",
) -> None:
    """Queue the "password changed" notice to the account's address (`via` "reset" or
    "account", the page of one's own account); in the user's Language, else `language`, the
    one the change was made in."""
    message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=user.email,
        user=user,
        context={
            "changed_at": (changed_at or timezone.now()).isoformat(),
            "client_address": client_address,
            "via": via,
            "language": language_supported(language) or "",
        },
    )


# -- The switch --------------------------------------------------------------------------------


def forgot_password_configure(
    *,
    enabled: bool,
    link_lifetime_minutes: int,
    invitation_lifetime_days: int | None = None,
    actor: User | None = None,
    client_address: str | None = None,
) -> ForgotPasswordSettings:
    """Save the Forgot Password settings; refuse to switch on while mail is unproven.

    Switching off voids every issued reset link for good: off means off, and links mailed
    before stay refused once it is switched on again. Reset mails still in the queue are
    dropped when the worker comes to them (see `emails.compose_reset`).
    """
    current = forgot_password_settings_get()
    if enabled and not current.enabled:
        reason = mail_not_ready_reason()
        if reason:
            raise MailNotVerified(reason, field="enabled")
    was_enabled = current.enabled
    current.enabled = enabled
    current.link_lifetime_minutes = link_lifetime_minutes
    if invitation_lifetime_days is not None:
        current.invitation_lifetime_days = invitation_lifetime_days
    current.updated_at = timezone.now()
    current.full_clean()
    with transaction.atomic():
        current.save()
        if was_enabled != enabled:
            detail: dict[str, Any] = {"enabled": enabled}
            if not enabled:
                detail["links_voided"] = links_void_all()
            audit_record(
                Action.FORGOT_PASSWORD_SWITCHED,
                actor=actor,
                client_address=client_address,
                **detail,
            )
    return current


def links_void_all() -> int:
    """Void every outstanding reset link users asked for; return how many there were.

    Invitations and links an administrator sent do not depend on Forgot Password and stay.
    """
    outstanding = ResetLink.objects.filter(
        used_at=None, voided_at=None, kind=LinkKind.RESET, by_administrator=False
    )
    return outstanding.update(voided_at=timezone.now())


def reset_link_expires_at(
    requested_at: datetime, *, lifetime_minutes: int | None = None
) -> datetime:
    """Return when a reset link asked for at `requested_at` expires: after `lifetime_minutes`,
    by default the saved link lifetime."""
    if lifetime_minutes is None:
        lifetime_minutes = forgot_password_settings_get().link_lifetime_minutes
    return requested_at + timedelta(minutes=lifetime_minutes)
