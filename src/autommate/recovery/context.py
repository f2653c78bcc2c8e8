from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import forgot_password_enabled


def forgot_password(request: HttpRequest) -> dict[str, Any]:
    """Let every page offer Forgot Password while it is switched on (read when a page asks)."""
    return {"forgot_password_enabled": forgot_password_enabled}
