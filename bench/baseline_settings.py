"""The baseline: the product's settings, with Django's stock PasswordResetView and SMTP backend.

The stock view looks the address up and sends through SMTP inside the request, which is what
the product's request path is built not to do. The mail server is the same one the product's
saved mail settings point at (host and port from BENCH_SMTP_HOST and BENCH_SMTP_PORT, no TLS,
no login, the same 10 s timeout).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from autommate.settings import *  # noqa: F403
from autommate.settings import PACKAGE_DIR, TEMPLATES

ROOT_URLCONF = "bench.baseline_urls"
TEMPLATES[0]["DIRS"] = [Path(__file__).resolve().parent / "templates", PACKAGE_DIR / "templates"]
_mailers: dict[str, Any] = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ.get("BENCH_SMTP_HOST", "127.0.0.1"),
            "port": int(os.environ.get("BENCH_SMTP_PORT", "1025")),
            "use_tls": False,
            "timeout": 10,
        },
    }
}
DEFAULT_FROM_EMAIL = "Autom Mate <noreply@bench.example>"
MAILERS = cast(Any, _mailers)
