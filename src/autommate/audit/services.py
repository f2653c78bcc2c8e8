from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from autommate.logs import current_request_id

from .models import Action, AuditEvent

# Repeats of one event are counted on one row per window of this length: a client that keeps
# hitting a rate limit adds one row a quarter of an hour, not one a request.
REPEAT_WINDOW_SECONDS = 15 * 60


def audit_record(
    action: Action,
    *,
    actor: Any = None,
    client_address: str | None = None,
    target: str = "",
    **detail: Any,
) -> AuditEvent:
    """Record one event. Callers pass no secrets: the detail is shown to administrators."""
    event = _event(action, actor=actor, client_address=client_address, target=target, detail=detail)
    event.save()
    return event


def audit_record_repeated(
    action: Action,
    *,
    repeats: str,
    actor: Any = None,
    client_address: str | None = None,
    target: str = "",
    **detail: Any,
) -> AuditEvent:
    """Record one more occurrence of an event that repeats, such as a refusal by a rate limit.

    Occurrences with the same `action` and `repeats` (what repeats: a limit and its key) in one
    window of `REPEAT_WINDOW_SECONDS` are one event that counts them, atomically, in every
    process; the first occurrence gives it its actor, address, target and detail. `repeats` is
    stored only as a keyed hash.
    """
    now = timezone.now()
    window = int(now.timestamp() // REPEAT_WINDOW_SECONDS)
    key = _keyed_hash(f"{action}:{repeats}:{window}")
    for _ in range(3):
        with transaction.atomic():
            counted = AuditEvent.objects.filter(repeat_key=key).update(
                count=F("count") + 1, last_at=now
            )
            if counted:
                return AuditEvent.objects.get(repeat_key=key)
            try:
                with transaction.atomic():
                    event = _event(
                        action,
                        actor=actor,
                        client_address=client_address,
                        target=target,
                        detail=detail,
                    )
                    event.at, event.repeat_key = now, key
                    event.save()
                    return event
            except IntegrityError:
                continue  # Another process recorded the first one: count on top of it.
    raise RuntimeError(f"Could not record a repeat of {action}.")


def _event(
    action: Action, *, actor: Any, client_address: str | None, target: str, detail: dict[str, Any]
) -> AuditEvent:
    user = actor if getattr(actor, "pk", None) else None
    return AuditEvent(
        action=action,
        actor=user,
        actor_label=str(user) if user else "",
        client_address=client_address or None,
        target=target[:254],
        detail=_with_request_id(detail),
    )


def _with_request_id(detail: dict[str, Any]) -> dict[str, Any]:
    """Add the id of the request being served, which its log lines carry too."""
    request_id = current_request_id()
    return {**detail, "request_id": request_id} if request_id else detail


def address_fingerprint(address: str) -> str:
    """Return a keyed hash of an address as typed, so the log can link events without storing it."""
    return _keyed_hash(address)[:16]


def _keyed_hash(text: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()
