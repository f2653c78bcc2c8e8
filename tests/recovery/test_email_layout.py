"""The HTML mails fit a phone's screen and follow the reader's dark mode."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from autommate.accounts.models import User

TEMPLATES = [
    "recovery/emails/reset_password.html",
    "recovery/emails/password_changed.html",
    "mailserver/emails/test_mail.html",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_mail_is_fluid_up_to_560_px_and_has_dark_colours(template: str) -> None:
    html = render_to_string(
        template,
        {
            "product_name": "Autom Mate",
            "user": User(email="dana@example.org", full_name="Dana Smith"),
            "link": "https://autommate.example.org/reset-password/abc/",
            "lifetime_minutes": 60,
        },
    )

    assert 'width="560"' not in html
    assert "max-width:560px" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html
