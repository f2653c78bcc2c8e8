from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def product(request: HttpRequest) -> dict[str, Any]:
    """Add what every page's layout needs."""
    from autommate.recovery.selectors import forgot_password_enabled

    return {"forgot_password_enabled": forgot_password_enabled}
