"""The seed's journey in German and in Turkish, where the administrator and the user read
different languages: each page is in its reader's language, and so is each mail.

Elements are found by their labels in the language the page should be in, asked of the
catalogues in the test (`gettext` under `translation.override`), so the test holds whatever the
translations say. Where the product has no catalogue of its own for a language yet, a label may
also still read in English: Django's own catalogues already translate some of the same words
("Email", "Password", "Save"), which the product's templates only show translated once they are
in its catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Browser, Page, expect

import autommate
from autommate.accounts.models import User
from tests.browser.conftest import Journey
from tests.browser.test_accessibility import assert_no_violations
from tests.browser.test_seed_journey import CONFIRMATION_CODE, body
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD
from tests.smtp_server import ReceivedMessage, SMTPTestServer

pytestmark = pytest.mark.browser

USER_EMAIL = "ismail.yilmaz@example.org"
USER_NAME = "İsmail Yılmaz"
TEST_RECIPIENT = "ops@example.org"
NEW_PASSWORD = "seven amber lanterns over the strait"
LANGUAGE_NAMES = dict(settings.LANGUAGES)
PACKAGE = Path(autommate.__file__).resolve().parent


def has_catalogue(language: str) -> bool:
    return (PACKAGE / "locale" / language / "LC_MESSAGES" / "django.mo").is_file()


def t(language: str, text: str) -> str | re.Pattern[str]:
    """Return `text` as the page in `language` shows it."""
    with translation.override(language):
        translated = gettext(text)
    if has_catalogue(language) or translated == text:
        return translated
    return re.compile(f"^(?:{re.escape(translated)}|{re.escape(text)})$")


def in_language(page: Page, language: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", language)


def mail_in(message: ReceivedMessage, language: str) -> None:
    assert message["Content-Language"] == language
    assert f'<html lang="{language}">' in body(message, "html")


def switch_language(page: Page, shown_in: str, to: str) -> None:
    """Choose `to` with the switcher of a page shown in `shown_in`, without any script."""
    page.get_by_label(t(shown_in, "Language"), exact=True).select_option(label=LANGUAGE_NAMES[to])
    page.get_by_role("button", name=t(shown_in, "Change language")).click()
    in_language(page, to)


def sign_in(page: Page, language: str, email: str, password: str) -> None:
    page.get_by_label(t(language, "Email"), exact=True).fill(email)
    page.get_by_label(t(language, "Password"), exact=True).fill(password)
    page.get_by_role("button", name=t(language, "Log in")).click()


def new_mail(server: SMTPTestServer, already: int, recipient: str) -> ReceivedMessage:
    messages = server.wait_for(already + 1)
    (message,) = (m for m in messages[already:] if recipient in m.rcpt_tos)
    return message


@pytest.mark.parametrize(("admin_language", "user_language"), [("de", "tr"), ("tr", "de")])
def test_each_reader_gets_pages_and_mails_in_their_own_language(
    journey: Journey,
    browser: Browser,
    live_url: str,
    admin_user: User,
    smtp_server: SMTPTestServer,
    run_worker: Callable[[], int],
    admin_language: str,
    user_language: str,
) -> None:
    a, u = admin_language, user_language
    smtp_server.save_settings()
    page = journey.page

    # The administrator's browser asks for English; the switcher makes the pages theirs.
    journey.goto("/login/")
    in_language(page, "en")
    switch_language(page, "en", a)
    journey.shot(f"login-in-{a}")
    sign_in(page, a, admin_user.email, ADMIN_PASSWORD)
    expect(page).not_to_have_url(re.compile(r"/login/"))
    in_language(page, a)

    # Their own Language, so that every page and mail to them is in it from anywhere.
    journey.goto("/account/")
    page.get_by_label(t(a, "Language"), exact=True).select_option(label=LANGUAGE_NAMES[a])
    page.get_by_role("button", name=t(a, "Save")).first.click()
    expect(page.get_by_role("status")).to_be_visible()
    in_language(page, a)
    assert User.objects.get(pk=admin_user.pk).language == a

    # A user who reads the other language, added with it.
    journey.goto("/users/add/")
    in_language(page, a)
    page.get_by_label(t(a, "Email"), exact=True).fill(USER_EMAIL)
    page.get_by_label(t(a, "Full name")).fill(USER_NAME)
    page.get_by_label(t(a, "Password"), exact=True).fill(USER_PASSWORD)
    page.get_by_label(t(a, "Language"), exact=True).select_option(label=LANGUAGE_NAMES[u])
    journey.shot(f"add-user-in-{a}")
    page.get_by_role("button", name=t(a, "Save")).click()
    expect(page).to_have_url(re.compile(r"/users/$"))
    expect(page.get_by_role("row").filter(has_text=USER_EMAIL)).to_be_visible()

    # The test mail is in the administrator's language.
    journey.goto("/settings/mail/")
    in_language(page, a)
    page.get_by_label(t(a, "Test recipient")).fill(TEST_RECIPIENT)
    page.get_by_role("button", name=t(a, "Send test mail")).click()
    test_mail = new_mail(smtp_server, 0, TEST_RECIPIENT)
    mail_in(test_mail, a)
    code = CONFIRMATION_CODE.search(body(test_mail, "plain"))
    assert code
    page.get_by_label(t(a, "Confirmation code")).fill(code.group(1))
    page.get_by_role("button", name=t(a, "Confirm delivery")).click()
    expect(page).to_have_url(re.compile(r"/settings/mail/$"))
    in_language(page, a)
    journey.shot(f"delivery-confirmed-in-{a}")

    journey.goto("/settings/forgot-password/")
    page.get_by_label(t(a, "Enable Forgot Password")).check()
    page.get_by_role("button", name=t(a, "Save")).click()
    expect(page.get_by_label(t(a, "Enable Forgot Password"))).to_be_checked()
    page.get_by_role("button", name=t(a, "Log out")).click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    # Logged out, the pages follow the switcher's choice again: still the administrator's.
    in_language(page, a)

    # The user asks for a reset from a browser that asks for the administrator's language: the
    # pages are in it, but the mail is in the user's own Language.
    user_context = browser.new_context(base_url=live_url, locale=a)
    user_page = user_context.new_page()
    journey.watch(user_page)
    user_page.goto(f"{live_url}/login/")
    in_language(user_page, a)
    user_page.get_by_role("link", name=t(a, "Forgot Password")).click()
    user_page.get_by_label(t(a, "Email"), exact=True).fill(USER_EMAIL)
    user_page.get_by_role("button", name=t(a, "Reset Password")).click()
    expect(user_page.get_by_role("status")).to_be_visible()
    in_language(user_page, a)
    already = len(smtp_server.messages)
    run_worker()
    reset_mail = new_mail(smtp_server, already, USER_EMAIL)
    mail_in(reset_mail, u)

    user_page.goto("about:blank")
    user_page.set_content(body(reset_mail, "html"))
    journey.shot(f"reset-mail-in-{u}", user_page)
    user_page.get_by_role("link", name=t(u, "Reset Password"), exact=True).click()
    expect(user_page).to_have_url(re.compile(r"/reset-password/$"))
    in_language(user_page, a)
    user_page.get_by_label(t(a, "New password"), exact=True).fill(NEW_PASSWORD)
    user_page.get_by_label(t(a, "Confirm new password")).fill(NEW_PASSWORD)
    user_page.get_by_role("button", name=t(a, "Change Password")).click()
    expect(user_page).to_have_url(re.compile(r"/login/$"))
    expect(user_page.get_by_role("status")).to_be_visible()

    # Logged in, the user's pages are in their own Language, whatever the browser asks for.
    sign_in(user_page, a, USER_EMAIL, NEW_PASSWORD)
    expect(user_page).not_to_have_url(re.compile(r"/login/"))
    in_language(user_page, u)
    expect(user_page.get_by_role("button", name=t(u, "Log out"))).to_be_visible()
    journey.shot(f"user-logged-in-in-{u}", user_page)

    already = len(smtp_server.messages)
    run_worker()
    notice = new_mail(smtp_server, already, USER_EMAIL)
    mail_in(notice, u)
    user_context.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/login/", "/forgot-password/", "/reset-password/"])
def test_the_switcher_fits_320_px_and_works_from_the_keyboard(journey: Journey, path: str) -> None:
    page = journey.page
    page.set_viewport_size({"width": 320, "height": 640})
    journey.goto(path)
    for language in ("de", "tr"):
        current = str(page.locator("html").get_attribute("lang"))
        select = page.get_by_label(t(current, "Language"), exact=True)
        select.focus()
        page.keyboard.press("End" if language == "tr" else "ArrowDown")
        expect(select).to_have_value(language)
        page.keyboard.press("Tab")
        button = page.get_by_role("button", name=t(current, "Change language"))
        expect(button).to_be_focused()
        page.keyboard.press("Enter")
        in_language(page, language)
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        journey.shot(f"switcher-320px-{path.strip('/')}-{language}")
        assert int(page.evaluate("document.documentElement.scrollWidth")) <= 320
        box = page.locator(".language-switcher").bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 320
        assert_no_violations(page, f"{path} in {language}")
