from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings

from .models import Action, AuditEvent


def audit_record(
    action: Action,
    *,
    actor: Any = None,
    client_address: str | None = None,
    target: str = "",
    **detail: Any,
) -> AuditEvent:
    """Record one event. Callers pass no secrets: the detail is shown to administrators."""
    user = actor if getattr(actor, "pk", None) else None
    return AuditEvent.objects.create(
        action=action,
        actor=user,
        actor_label=str(user) if user else "",
        client_address=client_address or None,
        target=target[:254],
        detail=detail,
    )


def address_fingerprint(address: str) -> str:
    """Return a keyed hash of an address as typed, so the log can link events without storing it."""
    digest = hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256)
    return digest.hexdigest()[:16]
