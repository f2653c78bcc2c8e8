"""Writes for the mail server: save the settings, send a test mail, confirm its delivery."""

from __future__ import annotations

import email.policy as email_policy
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from autommate.accounts.models import User
from autommate.audit.models import Action
from autommate.audit.services import audit_record
from autommate.delivery.rendering import render_email
from autommate.delivery.services import test_mail_record
from autommate.errors import DomainError
from autommate.ratelimits import services as ratelimits

from .connection import ServerConfig
from .diagnosis import diagnose
from .models import EDITABLE_FIELDS, MailServerSettings, TestMailCode
from .secrets import encrypt
from .selectors import mail_server_get
from .steps import Diagnosis

# Changing where the password would be sent requires typing it again.
PASSWORD_BOUND_FIELDS = ("host", "port", "username")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


class PasswordNeeded(ValidationError):
    def __init__(self) -> None:
        super().__init__(
            {
                "password": "Enter the password again: the server name, port or username "
                "changed, and the saved password is only ever sent to the server it was saved for."
            }
        )


class InvalidConfirmationCode(DomainError):
    code = "invalid_confirmation_code"
    default_message = "This code is not valid. Send a new test mail."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="code")


def _candidate(values: dict[str, Any]) -> MailServerSettings:
    saved = mail_server_get()
    candidate = MailServerSettings(pk=1, password_encrypted=saved.password_encrypted)
    for name in EDITABLE_FIELDS:
        setattr(candidate, name, values.get(name, getattr(saved, name)))
    return candidate


def _resolve_password(values: dict[str, Any], new_password: str) -> str:
    """Return the password to use for `values`: the typed one, or the saved one if still bound."""
    if not values.get("use_auth"):
        return ""
    if new_password:
        return new_password
    saved = mail_server_get()
    if not saved.has_password:
        raise ValidationError({"password": "Enter the password for the mail server."})
    if any(
        str(values.get(f, "")).lower() != str(getattr(saved, f)).lower()
        for f in PASSWORD_BOUND_FIELDS
    ):
        raise PasswordNeeded
    return saved.password()


def mail_server_save(
    *,
    values: dict[str, Any],
    password: str = "",
    actor: User | None = None,
    client_address: str | None = None,
) -> MailServerSettings:
    """Save the mail server settings; a changed server is unverified until a test is confirmed."""
    saved = mail_server_get()
    plain_password = _resolve_password(values, password)
    changed = [name for name in EDITABLE_FIELDS if getattr(saved, name) != values.get(name)]
    if password:
        changed.append("password")
    updated = _candidate(values)
    updated.verified_fingerprint = saved.verified_fingerprint
    updated.verified_at = saved.verified_at
    updated.timeout_seconds = saved.timeout_seconds
    if not values.get("use_auth"):
        updated.username = ""
        updated.password_encrypted = ""
    elif password:
        updated.password_encrypted = encrypt(plain_password)
    updated.updated_at = timezone.now()
    updated.full_clean(
        exclude=["password_encrypted", "verified_fingerprint"], validate_unique=False
    )
    with transaction.atomic():
        updated.save()
        if changed:
            audit_record(
                Action.MAIL_SETTINGS_CHANGED,
                actor=actor,
                client_address=client_address,
                fields=changed,
                verified=updated.is_verified,
            )
    return updated


@dataclass
class TestMailResult:
    __test__ = False  # A product name, not a test case.

    diagnosis: Diagnosis
    recipient: str
    # Whether the tested values are the saved ones (so confirming verifies what is in use).
    tested_saved_settings: bool
    code_issued: bool = False


def _code_hash(code: str) -> str:
    normalized = "".join(code.split()).upper().replace("-", "")
    key = hashlib.sha256(b"test-mail-code:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def mail_server_test(
    *,
    values: dict[str, Any],
    password: str,
    recipient: str,
    actor: User,
    client_address: str | None = None,
) -> TestMailResult:
    """Send a test mail with the given (saved or unsaved) values and report every step."""
    decision = ratelimits.hit("test-mail", str(actor.pk), settings.LIMIT_TEST_MAIL)
    if not decision.allowed:
        audit_record(
            Action.RATE_LIMITED, actor=actor, client_address=client_address, limit="test-mail"
        )
        raise ratelimits.RateLimited(decision.retry_after_seconds, reason="Too many test mails.")
    plain_password = _resolve_password(values, password)
    candidate = _candidate(values)
    config = ServerConfig.from_values(candidate, password=plain_password)
    fingerprint = candidate.fingerprint(password=plain_password)
    saved = mail_server_get()
    tested_saved = saved.is_configured and hmac.compare_digest(fingerprint, saved.fingerprint())

    code = _new_code()
    link_token = secrets.token_urlsafe(24)
    email = render_email(
        "mailserver/emails/test_mail",
        {
            "code": f"{code[:4]}-{code[4:]}",
            "confirm_url": f"{settings.BASE_URL}/settings/mail/confirm/{link_token}/",
            "actor": actor,
            "server": f"{candidate.host}:{candidate.port}",
        },
        to=recipient,
        sender=candidate.sender_address,
    )
    diagnosis = diagnose(
        config,
        sender=candidate.sender_email,
        recipient=recipient,
        message=email.message(policy=email_policy.SMTP).as_bytes(),
    )
    now = timezone.now()
    with transaction.atomic():
        if diagnosis.ok:
            TestMailCode.objects.create(
                code_hash=_code_hash(code),
                link_hash=hashlib.sha256(link_token.encode()).hexdigest(),
                fingerprint=fingerprint,
                recipient=recipient,
                created_by=actor,
                created_at=now,
                expires_at=now + timedelta(hours=settings.TEST_MAIL_CODE_LIFETIME_HOURS),
            )
        failure = diagnosis.failure
        test_mail_record(
            recipient=recipient,
            user=actor,
            sent=diagnosis.ok,
            error=f"{failure.label}: {failure.cause} {failure.fix}".strip() if failure else "",
            message_id=str(email.extra_headers.get("Message-ID", "")),
        )
        audit_record(
            Action.TEST_MAIL_SENT,
            actor=actor,
            client_address=client_address,
            target=recipient,
            server=f"{candidate.host}:{candidate.port}",
            result="accepted" if diagnosis.ok else f"failed at {failure.name if failure else '?'}",
        )
    return TestMailResult(
        diagnosis=diagnosis,
        recipient=recipient,
        tested_saved_settings=tested_saved,
        code_issued=diagnosis.ok,
    )


def mail_server_confirm(
    *,
    code: str = "",
    link_token: str = "",
    actor: User,
    client_address: str | None = None,
) -> MailServerSettings:
    """Mark the saved settings verified with the code (or link) from a received test mail."""
    ratelimits.peek("test-mail-confirm", str(actor.pk), "10/m").enforce(
        reason="Too many wrong codes."
    )
    codes = TestMailCode.objects.all()
    if link_token:
        lookup = codes.filter(link_hash=hashlib.sha256(link_token.encode()).hexdigest())
    else:
        lookup = codes.filter(code_hash=_code_hash(code))
    found = lookup.first()
    if found is None or not found.is_usable:
        # Counted outside any transaction, so that refusing the code does not undo the count.
        ratelimits.hit("test-mail-confirm", str(actor.pk), "10/m")
        raise InvalidConfirmationCode(
            "This code is not valid: it may be mistyped, used already, or older than "
            f"{settings.TEST_MAIL_CODE_LIFETIME_HOURS} hours. Send a new test mail."
        )
    with transaction.atomic():
        found = TestMailCode.objects.select_for_update().get(pk=found.pk)
        if not found.is_usable:  # Used by a concurrent confirmation a moment ago.
            raise InvalidConfirmationCode("This code has just been used. Send a new test mail.")
        saved = mail_server_get()
        if not hmac.compare_digest(found.fingerprint, saved.fingerprint()):
            raise InvalidConfirmationCode(
                "This code was sent with mail settings that differ from the ones saved now. "
                "Save the settings you tested, or send a new test mail with the saved settings."
            )
        now = timezone.now()
        found.used_at = now
        found.save(update_fields=["used_at"])
        saved.verified_fingerprint = found.fingerprint
        saved.verified_at = now
        saved.save(update_fields=["verified_fingerprint", "verified_at"])
        audit_record(
            Action.TEST_MAIL_CONFIRMED,
            actor=actor,
            client_address=client_address,
            target=found.recipient,
        )
    return saved
