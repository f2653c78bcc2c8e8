"""An administrator adds a user with Forgot Password off; the user sets a password from the
invitation mail and logs in. In a real browser, with a real SMTP server receiving the mail."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from autommate.accounts.models import User
from tests.browser.conftest import Journey
from tests.browser.test_accessibility import assert_no_violations
from tests.browser.test_seed_journey import body
from tests.conftest import ADMIN_PASSWORD
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.browser

USER_EMAIL = "nina.new@example.org"
NEW_PASSWORD = "seven quiet lanterns over the bay"


def test_invited_user_sets_a_password_and_logs_in_with_forgot_password_off(
    journey: Journey,
    admin_user: User,
    configured_mail_server,
    smtp_server: SMTPTestServer,
    run_worker: Callable[[], int],
) -> None:
    page = journey.page
    journey.goto("/login/")
    expect(page.get_by_role("link", name="Forgot Password")).to_have_count(0)
    page.get_by_label("Email", exact=True).fill(admin_user.email)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))

    journey.goto("/users/add/")
    expect(page.get_by_label("Send invitation")).to_be_checked()
    page.get_by_label("Email", exact=True).fill(USER_EMAIL)
    page.get_by_label("Full name").fill("Nina New")
    journey.shot("add-user-with-invitation")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/users/$"))
    expect(page.get_by_role("status")).to_contain_text("an invitation has been sent")
    row = page.get_by_role("row").filter(has_text=USER_EMAIL)
    expect(row).to_contain_text("Invited")
    expect(row).to_contain_text("expires")
    expect(row.get_by_role("button", name=re.compile("Resend invitation"))).to_be_visible()
    assert_no_violations(page, "users list with an invited user")
    journey.shot("user-invited")
    page.get_by_role("button", name="Log out").click()

    run_worker()
    (mail,) = smtp_server.wait_for(1)
    assert mail["To"] == USER_EMAIL
    text = body(mail, "plain")
    (link,) = set(re.findall(r"https?://\S+/invitation/\S+/", text))
    assert link.startswith(f"{journey.base_url}/invitation/")
    page.goto("about:blank")
    page.set_content(body(mail, "html"))
    button = page.get_by_role("link", name="Set password", exact=True)
    expect(button).to_have_attribute("href", link)
    expect(page.get_by_role("link", name=link)).to_be_visible()
    journey.shot("invitation-mail")
    button.click()

    expect(page).to_have_url(re.compile(r"/invitation/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set your password")
    assert_no_violations(page, "invitation page")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill("something else entirely, long")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    assert_no_violations(page, "invitation page with errors")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()

    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_role("status")).to_contain_text("Your password has been set")
    journey.shot("password-set")
    page.get_by_label("Email", exact=True).fill(USER_EMAIL)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Nina")
    journey.shot("invited-user-logged-in")
