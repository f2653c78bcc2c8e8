"""The seed's journey with the keyboard only: Tab, Shift+Tab, Enter, Space, arrows and typing.

No element is clicked or filled by the test: it moves focus with Tab until the control it wants
has it, as a keyboard user does, and then types or presses a key. Only the mail itself is read by
the test, as a mail client would show it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from autommate.accounts.models import User
from tests.browser.conftest import Journey
from tests.browser.test_seed_journey import (
    NEW_PASSWORD,
    SENDER_EMAIL,
    SENDER_NAME,
    TEST_RECIPIENT,
    USER_EMAIL,
    USER_NAME,
    RunWorker,
    confirmation_code,
    plain_text_link,
    receive_reset_mail,
)
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.browser

# However long a page is, a control is reached within this many Tab presses.
MAX_TABS = 80

FOCUSED_NAME = """() => {
  const el = document.activeElement;
  if (!el) return "";
  if (el.labels && el.labels.length) return el.labels[0].innerText.trim();
  return (el.getAttribute("aria-label") || el.innerText || el.value || "").trim();
}"""


def tab_to(page: Page, name: str | re.Pattern[str]) -> None:
    """Press Tab until the focused control's label (or text) is `name`."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = str(page.evaluate(FOCUSED_NAME))
        if name.search(focused) if isinstance(name, re.Pattern) else focused == name:
            return
    raise AssertionError(f"{name!r} was not reached with {MAX_TABS} Tab presses")


def type_into(page: Page, name: str, text: str) -> None:
    tab_to(page, name)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def press(page: Page, name: str | re.Pattern[str], key: str = "Enter") -> None:
    """Reach the link or button `name` and press `key` on it, waiting for the page it opens."""
    tab_to(page, name)
    with page.expect_navigation():
        page.keyboard.press(key)


def submit(page: Page) -> None:
    """Press Enter in the focused field, which submits its form."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def log_in(journey: Journey, email: str, password: str) -> None:
    page = journey.page
    journey.goto("/login/")
    type_into(page, "Email", email)
    type_into(page, "Password", password)
    submit(page)


@pytest.mark.django_db(transaction=True)
def test_the_seed_journey_with_the_keyboard_only(
    journey: Journey, admin_user: User, smtp_server: SMTPTestServer, run_worker: RunWorker
) -> None:
    page = journey.page
    log_in(journey, admin_user.email, ADMIN_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")

    # Add a user, from the navigation.
    press(page, "Users")
    press(page, "Add user")
    type_into(page, "Email", USER_EMAIL)
    type_into(page, "Full name", USER_NAME)
    tab_to(page, "Role")
    page.keyboard.press("ArrowDown")  # Administrator → User
    type_into(page, "Password", USER_PASSWORD)
    press(page, "Save")
    expect(page.get_by_role("row").filter(has_text=USER_EMAIL)).to_contain_text("Active")
    journey.shot("user-added-by-keyboard")

    # The mail server, tested without pressing Save, then confirmed with the mailed code.
    press(page, "Mail server")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mail server")
    type_into(page, "Server name", smtp_server.host)
    type_into(page, "Port", str(smtp_server.port))
    tab_to(page, "Enable TLS")
    page.keyboard.press("Space")
    expect(page.get_by_label("Enable TLS")).not_to_be_checked()
    type_into(page, "Sender name", SENDER_NAME)
    type_into(page, "Sender email", SENDER_EMAIL)
    type_into(page, "Test recipient", TEST_RECIPIENT)
    submit(page)
    expect(page.get_by_text("Accepted by the server")).to_be_visible()
    journey.shot("test-mail-sent-by-keyboard")
    (test_mail,) = smtp_server.wait_for(1)
    type_into(page, "Confirmation code", confirmation_code(test_mail))
    submit(page)
    expect(page.get_by_text("Verified", exact=True)).to_be_visible()

    # Switch Forgot Password on, and log out.
    press(page, "Forgot Password")
    tab_to(page, "Enable Forgot Password")
    page.keyboard.press("Space")
    press(page, "Save")
    expect(page.get_by_text("On", exact=True)).to_be_visible()
    press(page, "Log out")
    expect(page).to_have_url(re.compile(r"/login/"))

    # The user asks for a reset from the login page and follows the mailed link.
    press(page, "Forgot Password")
    type_into(page, "Email", USER_EMAIL)
    submit(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    reset_mail = receive_reset_mail(smtp_server, run_worker)
    page.goto(plain_text_link(reset_mail, journey.base_url))
    type_into(page, "New password", NEW_PASSWORD)
    type_into(page, "Confirm new password", NEW_PASSWORD)
    submit(page)
    expect(page.get_by_text("password has been changed")).to_be_visible()

    log_in(journey, USER_EMAIL, NEW_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Mike")
    journey.shot("user-logged-in-by-keyboard")
