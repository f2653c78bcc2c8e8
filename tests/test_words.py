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


# Names that keep their capitals in sentence case: the product's and the seed's own names, and
# the names of other products and standards.
PROPER = {
    "Autom", "Mate", "Forgot", "Password", "Reset", "Microsoft", "Google", "Gmail", "Workspace",
    "Exchange", "Online", "OAuth", "Entra", "Outlook", "Office", "I",
}  # fmt: skip
HEADINGS_AND_CONTROLS = re.compile(
    r"<(h[1-4]|label|button|th|legend|summary)\b[^>]*>(.*?)</\1>", re.DOTALL
)


def title_case_words(html: str, *, names: tuple[str, ...] = ()) -> list[str]:
    """Return each heading, label, button and column name that capitalises a common word."""
    found = []
    for _, inner in HEADINGS_AND_CONTROLS.findall(html):
        text = " ".join(visible_text(inner).split())
        for sentence in re.split(r"[.:!?]\s+|\(", text):
            words = re.findall(r"[^\W\d_][\w'\u2019-]*", sentence)
            for word in words[1:]:
                if word[0].isupper() and not word.isupper() and word not in PROPER | set(names):
                    found.append(f"{word!r} in {text!r}")
    return found


ADMINISTRATOR_PAGES = [
    "/",
    "/users/",
    "/users/add/",
    "/settings/mail/",
    "/settings/forgot-password/",
    "/settings/mail/log/",
    "/settings/audit/",
    "/account/",
    "/account/tokens/",
]


@pytest.mark.parametrize("path", ADMINISTRATOR_PAGES)
def test_administrator_pages_use_sentence_case(admin_client: Client, admin_user, path: str) -> None:
    page = admin_client.get(path).content.decode()

    assert title_case_words(page, names=tuple(admin_user.full_name.split())) == []


@pytest.mark.parametrize("path", ["/login/", "/forgot-password/", "/reset-password/no-link/"])
def test_anonymous_pages_use_sentence_case(forgot_password_on, path: str) -> None:
    assert title_case_words(Client().get(path).content.decode()) == []


def test_the_sentence_case_check_finds_title_case() -> None:
    assert title_case_words("<h2>Outgoing Mail Server</h2><button>Save</button>") == [
        "'Mail' in 'Outgoing Mail Server'",
        "'Server' in 'Outgoing Mail Server'",
    ]
