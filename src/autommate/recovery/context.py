from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .alerts import mail_failing
from .selectors import forgot_password_enabled


def forgot_password(request: HttpRequest) -> dict[str, Any]:
    """Let every page offer Forgot Password while it is switched on (read when a page asks)."""
    # A callable, so that the query runs only on the pages that show it (administrators').
    return {"forgot_password_enabled": forgot_password_enabled, "mail_failing": mail_failing}
