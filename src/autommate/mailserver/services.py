"""Writes for the mail server: save the settings, send a test mail, confirm its delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from autommate import metrics
from autommate.accounts.models import User
from autommate.audit.models import Action
from autommate.audit.services import audit_record, audit_record_repeated
from autommate.delivery.rendering import render_email
from autommate.delivery.services import test_mail_record
from autommate.errors import DomainError
from autommate.ratelimits import services as ratelimits

from .connection import ServerConfig
from .conversation import header_policy
from .diagnosis import diagnose
from .models import (
    EDITABLE_FIELDS,
    METHOD_SECRETS,
    SECRET_FIELDS,
    AuthMethod,
    LastWorkingMailServer,
    MailServerSettings,
    TestMailCode,
)
from .secrets import UndecryptableSecret, decrypt, encrypt
from .selectors import mail_server_get
from .steps import Diagnosis

# Changing where a secret would be sent, or how the connection carrying it is secured, requires
# typing it again: whoever can change the settings must not be able to send a saved secret to a
# server of their choosing, or in clear.
SECRET_BOUND_FIELDS: dict[str, tuple[str, ...]] = {
    "password": (
        "host",
        "port",
        "username",
        "protocol",
        "use_tls",
        "ca_certificate",
        "allow_insecure_login",
    ),
    # The token URL is https only, whatever the mail server's connection.
    "client_secret": ("token_url", "client_id"),
    "client_certificate": ("token_url", "client_id"),
    # The key names its own token URL, and goes nowhere else.
    "service_account_key": (),
}
# Compared without regard to case: a server name, a login name, a URL's host.
_CASELESS_BOUND_FIELDS = {"host", "username", "token_url", "client_id"}
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


class PasswordNeeded(ValidationError):
    def __init__(self) -> None:
        super().__init__(
            {
                "password": _(
                    "Enter the password again: the server name, port, username, "
                    "protocol, Enable TLS, CA certificate or Allow login without TLS changed, and "
                    "the saved password is only ever sent to the server, and over the kind of "
                    "connection, it was saved for."
                )
            }
        )


class ClientCredentialNeeded(ValidationError):
    def __init__(self) -> None:
        super().__init__(
            {
                "client_secret": _(
                    "Enter the client secret (or client certificate) again: the "
                    "token URL or client ID changed, and a saved secret is only ever sent to the "
                    "token URL it was saved for."
                )
            }
        )


class InvalidConfirmationCode(DomainError):
    code = "invalid_confirmation_code"
    default_message = "This code is not valid. Send a new test mail."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or _("This code is not valid. Send a new test mail."), field="code"
        )


def _candidate(values: dict[str, Any]) -> MailServerSettings:
    """Return the settings `values` describe, with the saved secrets, as they would be saved."""
    saved = mail_server_get()
    candidate = MailServerSettings(pk=1)
    for name in SECRET_FIELDS:
        setattr(candidate, f"{name}_encrypted", getattr(saved, f"{name}_encrypted"))
    for name in EDITABLE_FIELDS:
        setattr(candidate, name, values.get(name, getattr(saved, name)))
    # The permission means something only for a login over a connection without TLS; kept
    # elsewhere, it would apply unnoticed the day TLS is switched off.
    if not candidate.use_auth or candidate.encrypted:
        candidate.allow_insecure_login = False
    return candidate


def _bound_value(mail_server: MailServerSettings, name: str) -> object:
    value = getattr(mail_server, name)
    if isinstance(value, str):
        value = value.strip()
        return value.lower() if name in _CASELESS_BOUND_FIELDS else value
    return value


def _still_bound(name: str, candidate: MailServerSettings, saved: MailServerSettings) -> bool:
    """Whether a saved secret may be used with these values: it goes where it went before, over
    the same kind of connection."""
    return all(
        _bound_value(candidate, bound) == _bound_value(saved, bound)
        for bound in SECRET_BOUND_FIELDS[name]
    )


def _saved_secret(saved: MailServerSettings, name: str) -> str:
    """Return a saved secret in clear; one the current encryption keys cannot decrypt must be
    typed again, which is said on its field."""
    try:
        return saved.secret(name)
    except UndecryptableSecret as error:
        raise ValidationError({name: str(error)}) from None


def _resolve_secrets(values: dict[str, Any]) -> dict[str, str]:
    """Return the secrets in clear to log in with `values`: the typed ones, or the saved ones
    while they would still go where they were saved for."""
    if not values.get("use_auth"):
        return {}
    method = values.get("auth_method") or AuthMethod.PASSWORD
    typed = {name: str(values.get(name) or "") for name in METHOD_SECRETS[method]}
    saved = mail_server_get()
    candidate = _candidate(values)
    if method == AuthMethod.PASSWORD:
        if typed["password"]:
            return typed
        if not saved.has_password:
            raise ValidationError({"password": _("Enter the password for the mail server.")})
        if not _still_bound("password", candidate, saved):
            raise PasswordNeeded
        return {"password": _saved_secret(saved, "password")}
    if method == AuthMethod.OAUTH2:
        if typed["client_secret"] and typed["client_certificate"]:
            raise ValidationError(
                {
                    "client_certificate": _(
                        "Enter a client secret or a client certificate, not both."
                    )
                }
            )
        if typed["client_secret"] or typed["client_certificate"]:
            return typed
        stored = [name for name in METHOD_SECRETS[method] if saved.has_secret(name)]
        if not stored:
            raise ValidationError(
                {"client_secret": _("Enter the client secret, or a client certificate instead.")}
            )
        if not all(_still_bound(name, candidate, saved) for name in stored):
            raise ClientCredentialNeeded
        return {name: _saved_secret(saved, name) for name in METHOD_SECRETS[method]}
    if typed["service_account_key"]:
        return typed
    if not saved.has_secret("service_account_key"):
        raise ValidationError(
            {"service_account_key": _("Paste the service account's JSON key, or upload its file.")}
        )
    return {"service_account_key": _saved_secret(saved, "service_account_key")}


def mail_server_save(
    *,
    values: dict[str, Any],
    actor: User | None = None,
    client_address: str | None = None,
) -> MailServerSettings:
    """Save the mail server settings; a changed server is unverified until a test is confirmed.

    `values` holds the editable fields and any secret typed (`password`, `client_secret`,
    `client_certificate`, `service_account_key`); a secret left empty keeps the saved one, as
    long as it would still go where it was saved for. Only the secrets of the chosen method are
    kept.
    """
    saved = mail_server_get()
    in_use = _resolve_secrets(values)
    updated = _candidate(values)
    updated.verified_fingerprint = saved.verified_fingerprint
    updated.verified_at = saved.verified_at
    updated.timeout_seconds = saved.timeout_seconds
    if not values.get("use_auth"):
        updated.username = ""
        updated.auth_method = AuthMethod.PASSWORD
    if updated.auth_method != AuthMethod.OAUTH2 or not updated.use_auth:
        updated.token_url = updated.client_id = updated.scope = ""
    changed = [name for name in EDITABLE_FIELDS if getattr(saved, name) != getattr(updated, name)]
    changed += [name for name in SECRET_FIELDS if values.get(name)]
    for name in SECRET_FIELDS:
        typed = values.get(name)
        if name not in in_use:
            setattr(updated, f"{name}_encrypted", "")
        elif typed:
            setattr(updated, f"{name}_encrypted", encrypt(in_use[name]))
        elif not in_use[name]:
            setattr(updated, f"{name}_encrypted", "")
    updated.updated_at = timezone.now()
    updated.full_clean(
        exclude=[f"{name}_encrypted" for name in SECRET_FIELDS] + ["verified_fingerprint"],
        validate_unique=False,
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


def _refuse_when_paused(
    decision: ratelimits.Decision, actor: User, client_address: str | None
) -> None:
    if not decision.allowed:
        audit_record_repeated(
            Action.RATE_LIMITED,
            repeats=f"test-mail:{actor.pk}",
            actor=actor,
            client_address=client_address,
            limit="test-mail",
        )
        metrics.TEST_MAILS.labels(outcome="rate_limited").inc()
        raise ratelimits.RateLimited(decision.retry_after_seconds, reason=_("Too many test mails."))


def mail_server_test(
    *,
    values: dict[str, Any],
    recipient: str,
    actor: User,
    client_address: str | None = None,
) -> TestMailResult:
    """Send a test mail with the given (saved or unsaved) values and report every step."""
    _refuse_when_paused(
        ratelimits.hit("test-mail", str(actor.pk), settings.LIMIT_TEST_MAIL), actor, client_address
    )
    credentials = _resolve_secrets(values)
    candidate = _candidate(values)
    config = ServerConfig.from_values(candidate, secrets=credentials)
    fingerprint = candidate.fingerprint(secrets=credentials)
    saved = mail_server_get()
    tested_saved = saved.is_configured and hmac.compare_digest(
        fingerprint, saved.fingerprint_if_readable()
    )

    code = _new_code()
    link_token = secrets.token_urlsafe(24)
    email = render_email(
        "mailserver/emails/test_mail",
        {
            "code": f"{code[:4]}-{code[4:]}",
            "confirm_url": f"{settings.BASE_URL}/settings/mail/confirm/{link_token}/",
            "actor": actor,
        },
        to=recipient,
        sender=candidate.sender_address,
        # The sending administrator's: the language their page or API call is answered in.
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    diagnosis = diagnose(
        config,
        sender=candidate.sender_email,
        recipient=recipient,
        message=email.message(policy=header_policy(candidate.sender_email, recipient)).as_bytes(),
    )
    metrics.TEST_MAILS.labels(outcome="accepted" if diagnosis.ok else "failed").inc()
    now = timezone.now()
    with transaction.atomic():
        if diagnosis.ok:
            TestMailCode.objects.create(
                code_hash=_code_hash(code),
                link_hash=hashlib.sha256(link_token.encode()).hexdigest(),
                fingerprint=fingerprint,
                tested_values_encrypted="" if tested_saved else _sealed(values, credentials),
                recipient=recipient,
                created_by=actor,
                created_at=now,
                expires_at=now + timedelta(hours=settings.TEST_MAIL_CODE_LIFETIME_HOURS),
            )
            if tested_saved:
                last_working_keep(sent_through=fingerprint)
        failure = diagnosis.failure
        test_mail_record(
            recipient=recipient,
            user=actor,
            sent=diagnosis.ok,
            error=diagnosis.mail_log_text,
            message_id=str(email.extra_headers.get("Message-ID", "")),
            step=diagnosis.mail_log_step,
            reply=diagnosis.mail_log_reply,
            words=diagnosis.mail_log_words,
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


@dataclass
class SavedAndTested:
    mail_server: MailServerSettings
    result: TestMailResult
    # Whether the values on the page differed from the saved ones, and were saved first.
    saved_changes: bool


def _saved_values(saved: MailServerSettings) -> dict[str, Any]:
    """The saved settings as a form would post them, secrets left empty (the saved ones stay)."""
    return {name: getattr(saved, name) for name in EDITABLE_FIELDS}


def mail_server_save_and_test(
    *,
    values: dict[str, Any] | None,
    recipient: str,
    actor: User,
    client_address: str | None = None,
) -> SavedAndTested:
    """Save the values (when given), then send a test mail with the saved settings.

    A test is always of the saved settings, so the code it carries confirms exactly what is in
    use, and the secrets keep their binding: the save refuses a saved secret that would go to a
    different server. Nothing is saved while test mails are paused for this administrator.
    """
    _refuse_when_paused(
        ratelimits.peek("test-mail", str(actor.pk), settings.LIMIT_TEST_MAIL), actor, client_address
    )
    saved = mail_server_get()
    changed = False
    if values is not None:
        before = saved.fingerprint_if_readable() if saved.is_configured else ""
        saved = mail_server_save(values=values, actor=actor, client_address=client_address)
        changed = not before or not hmac.compare_digest(before, saved.fingerprint_if_readable())
        tested = values
    elif not saved.is_configured:
        raise ValidationError(
            _("Enter the mail server settings and save them before sending a test mail.")
        )
    else:
        tested = _saved_values(saved)
    result = mail_server_test(
        values=tested, recipient=recipient, actor=actor, client_address=client_address
    )
    return SavedAndTested(mail_server=saved, result=result, saved_changes=changed)


def _sealed(values: dict[str, Any], credentials: dict[str, str]) -> str:
    """The tested values and the secrets they logged in with, encrypted for `_save_tested`."""
    tested = {name: values.get(name) for name in EDITABLE_FIELDS if name in values}
    return encrypt(json.dumps(tested | credentials))


def _save_tested(
    code: TestMailCode, *, actor: User, client_address: str | None
) -> MailServerSettings:
    """Save the values a test mail was sent with, as its code is confirmed.

    Refuses when the code carries no values (a test of settings saved then and changed since)
    or when they cannot be read any more (the encryption keys changed).
    """
    differ = InvalidConfirmationCode(
        _(
            "This code was sent with mail settings that differ from the ones saved now. "
            "Send a new test mail with the saved settings."
        )
    )
    if not code.tested_values_encrypted:
        raise differ
    try:
        values = json.loads(decrypt(code.tested_values_encrypted, name="tested settings"))
    except UndecryptableSecret:
        raise differ from None
    saved = mail_server_save(values=values, actor=actor, client_address=client_address)
    if not hmac.compare_digest(code.fingerprint, saved.fingerprint_if_readable()):
        raise differ  # Rolls the save back with the caller's transaction.
    return saved


def mail_server_confirm(
    *,
    code: str = "",
    link_token: str = "",
    actor: User,
    client_address: str | None = None,
) -> MailServerSettings:
    """Mark the saved settings verified with the code (or link) from a received test mail."""
    ratelimits.peek("test-mail-confirm", str(actor.pk), "10/m").enforce(
        reason=_("Too many wrong codes.")
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
            _(
                "This code is not valid: it may be mistyped, used already, or older than "
                "%(hours)s hours. Send a new test mail."
            )
            % {"hours": settings.TEST_MAIL_CODE_LIFETIME_HOURS}
        )
    with transaction.atomic():
        found = TestMailCode.objects.select_for_update().get(pk=found.pk)
        if not found.is_usable:  # Used by a concurrent confirmation a moment ago.
            raise InvalidConfirmationCode(_("This code has just been used. Send a new test mail."))
        saved = mail_server_get()
        if not hmac.compare_digest(found.fingerprint, saved.fingerprint_if_readable()):
            saved = _save_tested(found, actor=actor, client_address=client_address)
        now = timezone.now()
        found.used_at = now
        found.save(update_fields=["used_at"])
        saved.verified_fingerprint = found.fingerprint
        saved.verified_at = now
        saved.save(update_fields=["verified_fingerprint", "verified_at"])
        # The server accepted the test mail through these settings, so they are the last that
        # worked, as when the saved settings themselves are tested. Kept here, where the tested
        # values were just decrypted, the task worker's first mail through them finds them kept
        # and does not load the cryptography library (several MiB) only to encrypt them.
        last_working_keep(sent_through=found.fingerprint)
        audit_record(
            Action.TEST_MAIL_CONFIRMED,
            actor=actor,
            client_address=client_address,
            target=found.recipient,
        )
    return saved


def last_working_keep(*, sent_through: str) -> bool:
    """Keep the saved settings as the last that worked, now that a mail was accepted through
    them; return whether they were kept now (False when they are kept already, or the mail
    went through other settings).

    `sent_through` is the fingerprint of the settings the mail was sent with: a mail sent by a
    connection opened before the settings changed proves nothing about the new ones.
    """
    if not sent_through:
        return False
    if LastWorkingMailServer.objects.filter(pk=1, fingerprint=sent_through).exists():
        return False
    saved = mail_server_get()
    if not saved.is_configured:
        return False
    try:
        secrets_in_use = saved.secrets_in_use()
    except UndecryptableSecret:
        return False
    if not hmac.compare_digest(saved.fingerprint(secrets=secrets_in_use), sent_through):
        return False
    values: dict[str, Any] = {name: getattr(saved, name) for name in EDITABLE_FIELDS}
    values["secrets"] = secrets_in_use
    LastWorkingMailServer.objects.update_or_create(
        pk=1,
        defaults={
            "fingerprint": sent_through,
            "server": f"{saved.host}:{saved.port}"[:300],
            "values_encrypted": encrypt(json.dumps(values)),
            "kept_at": timezone.now(),
        },
    )
    return True
