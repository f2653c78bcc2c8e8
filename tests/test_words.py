"""The product speaks of logging in and out, never of signing in, on every page people see."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

SIGN_WORDS = re.compile(r"sign(ed|s|ing)?[ -]?(in|out)\b", re.IGNORECASE)


def visible_text(html: str) -> str:
    """Return what a reader sees: the page without its tags, class names and URLs."""
    return re.sub(r"<[^>]*>", " ", html)


@pytest.mark.parametrize(
    "path",
    ["/", "/users/", "/settings/forgot-password/", "/account/tokens/", "/settings/audit/"],
)
def test_administrator_pages_say_log_in(admin_client: Client, path: str) -> None:
    page = visible_text(admin_client.get(path).content.decode())

    assert SIGN_WORDS.search(page) is None, SIGN_WORDS.search(page)


def test_user_page_and_unlock_say_log_in(admin_client: Client, regular_user) -> None:
    page = admin_client.get(f"/users/{regular_user.pk}/").content.decode()
    unlocked = admin_client.post(f"/users/{regular_user.pk}/unlock/", follow=True)

    assert "<h2>Logging in</h2>" in page
    assert SIGN_WORDS.search(visible_text(page)) is None
    assert f"Logging in to {regular_user.email} has been unlocked." in unlocked.content.decode()


def test_refused_page_for_a_non_administrator_says_log_in(user_client: Client) -> None:
    page = visible_text(user_client.get("/users/").content.decode())

    assert "Log in with an administrator account" in page
    assert SIGN_WORDS.search(page) is None
