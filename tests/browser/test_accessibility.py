"""axe-core finds no WCAG 2.2 AA violation on any page, in the states people meet them in.

axe-core (bundled by axe-playwright-python) runs in Chromium on each page: the anonymous pages
with and without errors, the administrators' pages before and after a failed test mail, the logs,
the tokens, and the error pages.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page, expect

from autommate.accounts.models import User
from autommate.recovery.services import link_issue
from tests.browser.conftest import Journey
from tests.conftest import ADMIN_PASSWORD

WCAG_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}
}
AXE = Axe()


def assert_no_violations(page: Page, state: str) -> None:
    results = AXE.run(page, options=WCAG_AA)
    violations = results.response["violations"]
    assert violations == [], f"{state}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']]}" for v in violations
    )


@pytest.mark.django_db(transaction=True)
def test_anonymous_pages_with_and_without_errors(journey: Journey) -> None:
    page = journey.page
    journey.goto("/login/")
    assert_no_violations(page, "log in")
    page.get_by_label("Email", exact=True).fill("nobody@example.org")
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert_no_violations(page, "log in, refused")

    journey.goto("/forgot-password/")
    assert_no_violations(page, "forgot password")
    journey.goto("/reset-password/not-a-real-link/")
    assert_no_violations(page, "reset page, wrong link")
    journey.goto("/no-such-page/")
    assert_no_violations(page, "not found")


@pytest.mark.django_db(transaction=True)
def test_administrators_pages(journey: Journey, admin_user: User, smtp_server, closed_port) -> None:
    page = journey.page
    journey.goto("/login/")
    page.get_by_label("Email", exact=True).fill(admin_user.email)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))

    for path in (
        "/",
        "/users/",
        "/users/add/",
        "/settings/mail/",
        "/settings/forgot-password/",
        "/settings/mail/log/",
        "/settings/audit/",
        "/account/",
        "/account/tokens/",
    ):
        response = page.goto(journey.base_url + path)
        assert response is not None, path
        assert response.ok, path
        assert_no_violations(page, path)

    journey.goto("/users/add/")
    page.get_by_label("Email", exact=True).fill("not an address")
    page.get_by_role("button", name="Save").click()
    assert_no_violations(page, "add user, refused")

    journey.goto("/settings/mail/")
    page.get_by_label("Server name").fill("127.0.0.1")
    page.get_by_label("Port").fill(str(closed_port))
    page.get_by_label("Enable TLS").set_checked(False)
    page.get_by_label("Sender email").fill("noreply@example.org")
    page.get_by_label("Test recipient").fill("ops@example.org")
    page.get_by_role("button", name="Send test mail").click()
    expect(page.get_by_text("Failed", exact=True)).to_be_visible()
    assert_no_violations(page, "mail server, failed test")

    page.get_by_label("Port").fill(str(smtp_server.port))
    page.get_by_label("Test recipient").fill("ops@example.org")
    page.get_by_role("button", name="Send test mail").click()
    expect(page.get_by_text("Accepted by the server")).to_be_visible()
    assert_no_violations(page, "mail server, test mail waiting for its code")

    journey.goto("/account/")
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill("a new and quite long passphrase")
    page.get_by_label("Confirm new password").fill("a new and quite long passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("This is not your current password.").first).to_be_visible()
    assert_no_violations(page, "your account, refused password change")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("forgot_password_on")
def test_forgot_password_pages_with_and_without_errors(journey: Journey) -> None:
    page = journey.page
    journey.goto("/forgot-password/")
    page.get_by_label("Email", exact=True).fill("not an address")
    page.get_by_role("button", name="Reset Password").click()
    assert_no_violations(page, "forgot password, refused")
    page.get_by_label("Email", exact=True).fill("someone@example.org")
    page.get_by_role("button", name="Reset Password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert_no_violations(page, "check your email")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("forgot_password_on")
def test_rate_limited_page(journey: Journey, settings) -> None:
    settings.LIMIT_RESET_PER_ADDRESS = "1/h"
    page = journey.page
    for _ in range(2):
        journey.goto("/forgot-password/")
        page.get_by_label("Email", exact=True).fill("someone@example.org")
        with page.expect_response(re.compile(r"/forgot-password/$")) as answer:
            page.get_by_role("button", name="Reset Password").click()
    assert answer.value.status == 429
    expect(page.get_by_text("may already be on its way")).to_be_visible()
    assert_no_violations(page, "rate limited")


@pytest.mark.django_db(transaction=True)
def test_server_error_page(journey: Journey, settings) -> None:
    settings.ROOT_URLCONF = "tests.browser.failing_urls"
    page = journey.page
    response = page.goto(journey.base_url + "/fail/")
    assert response is not None
    assert response.status == 500
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong")
    assert "RuntimeError" not in page.content()
    assert_no_violations(page, "server error")
    journey.problems.server_errors.clear()  # The one 500 this test caused on purpose.


@pytest.mark.django_db(transaction=True)
def test_the_check_itself_reports_a_violation(journey: Journey) -> None:
    # The check above can fail: an image without a text alternative is reported.
    page = journey.page
    journey.goto("/login/")
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")

    with pytest.raises(AssertionError, match="image-alt"):
        assert_no_violations(page, "log in with an image without alt")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("forgot_password_on")
def test_reset_page_with_and_without_errors(journey: Journey, regular_user: User) -> None:
    page = journey.page
    token = link_issue(user=regular_user, expires_at=timezone.now() + timedelta(hours=1))
    journey.goto(f"/reset-password/{token}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    assert_no_violations(page, "reset page")
    page.get_by_label("New password", exact=True).fill("one long passphrase here")
    page.get_by_label("Confirm new password").fill("another long passphrase")
    page.get_by_role("button", name="Change Password").click()
    expect(page.locator("[data-error-summary]")).to_be_visible()
    assert_no_violations(page, "reset page, refused")


@pytest.mark.django_db(transaction=True)
def test_users_list_with_every_status_and_the_invitation_pages(
    journey: Journey, admin_user: User, configured_mail_server
) -> None:
    from autommate.accounts.services import user_create, user_deactivate
    from autommate.recovery.models import ResetLink
    from autommate.recovery.services import invitation_send, link_token_give

    invited = user_create(email="invited@example.org")
    link = invitation_send(user=invited)
    _link, token = link_token_give(link_id=link.pk, user=invited)
    expired = user_create(email="expired@example.org")
    stale = invitation_send(user=expired)
    ResetLink.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(days=1))
    gone = user_create(email="gone@example.org", password="a long enough gone passphrase")
    user_deactivate(user=gone, actor=admin_user)

    page = journey.page
    journey.goto(f"/invitation/{token}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set your password")
    assert_no_violations(page, "invitation page")
    journey.goto("/invitation/not-a-real-link/")
    assert_no_violations(page, "invitation page, wrong link")

    journey.goto("/login/")
    page.get_by_label("Email", exact=True).fill(admin_user.email)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))
    journey.goto("/users/")
    expect(page.get_by_text("Invitation expired")).to_be_visible()
    assert_no_violations(page, "users list with every status")
    journey.goto(f"/users/{invited.pk}/")
    expect(page.get_by_role("button", name="Resend invitation")).to_be_visible()
    expect(page.get_by_role("button", name="Send password reset link")).to_be_visible()
    assert_no_violations(page, "an invited user's page")
