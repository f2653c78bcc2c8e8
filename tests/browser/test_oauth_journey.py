"""OAuth 2.0 login to the mail server in a real browser: the preset, the method's fields shown
and hidden with the keyboard alone, and the seed's whole journey with a token endpoint."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from autommate.accounts.models import User
from autommate.mailserver.presets import MICROSOFT_SCOPE, MICROSOFT_TOKEN_URL
from tests.browser.conftest import SCREENSHOTS, Journey
from tests.browser.test_seed_journey import sign_in
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

# The fields of each authentication method, by their labels.
METHOD_FIELDS = {
    "Password": ("Password",),
    "OAuth 2.0": ("Token URL", "Client ID", "Client secret", "Client certificate", "Scope"),
    "Google service account": ("Service account key", "Service account key file"),
}


def field(page: Page, label: str) -> Locator:
    return page.get_by_label(label, exact=True)


def chosen_method(page: Page) -> str:
    return str(field(page, "Authentication method").evaluate("s => s.selectedOptions[0].text"))


def assert_fields_of(page: Page, method: str) -> None:
    """Exactly the chosen method's fields show, with the method and the username."""
    assert chosen_method(page) == method
    expect(field(page, "Authentication method")).to_be_visible()
    expect(field(page, "Username")).to_be_visible()
    for other, labels in METHOD_FIELDS.items():
        for label in labels:
            if other == method:
                expect(field(page, label)).to_be_visible()
            else:
                expect(field(page, label)).to_be_hidden()


def open_mail_settings(journey: Journey) -> Page:
    page = journey.page
    journey.goto("/login/")
    sign_in(journey, "admin@example.org", ADMIN_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    journey.goto("/settings/mail/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mail server")
    return page


def test_microsoft_365_oauth_preset_chooses_oauth2_and_hides_the_password(
    journey: Journey, admin_user: User
) -> None:
    page = open_mail_settings(journey)
    # Authentication is off: its details stay out of the way.
    expect(field(page, "Use authentication")).not_to_be_checked()
    expect(field(page, "Authentication method")).to_be_hidden()
    expect(field(page, "Password")).to_be_hidden()
    journey.shot("mail-server-authentication-off")

    page.get_by_label("Preset").select_option(label="Microsoft 365 (OAuth 2.0)")
    expect(field(page, "Server name")).to_have_value("smtp.office365.com")
    expect(field(page, "Use authentication")).to_be_checked()
    expect(field(page, "Authentication method")).to_have_value("oauth2")
    expect(field(page, "Token URL")).to_have_value(MICROSOFT_TOKEN_URL)
    expect(field(page, "Scope")).to_have_value(MICROSOFT_SCOPE)
    expect(page.get_by_text("Replace <tenant> in the token URL")).to_be_visible()
    assert_fields_of(page, "OAuth 2.0")
    journey.shot("microsoft-365-oauth-preset")

    page.get_by_label("Preset").select_option(label="Google Workspace (service account)")
    expect(field(page, "Server name")).to_have_value("smtp.gmail.com")
    assert_fields_of(page, "Google service account")
    journey.shot("google-workspace-preset")

    page.get_by_label("Preset").select_option(label="Gmail")
    assert_fields_of(page, "Password")


def test_authentication_method_shows_its_fields_with_the_keyboard_only(
    journey: Journey, admin_user: User
) -> None:
    page = open_mail_settings(journey)
    keyboard = page.keyboard
    field(page, "CA certificate").focus()
    # From the last field of the server, Tab goes past the sender to Use authentication.
    for _ in range(3):
        keyboard.press("Tab")
    expect(field(page, "Use authentication")).to_be_focused()
    keyboard.press("Space")
    expect(field(page, "Use authentication")).to_be_checked()
    assert_fields_of(page, "Password")

    keyboard.press("Tab")
    method = field(page, "Authentication method")
    expect(method).to_be_focused()
    keyboard.press("ArrowDown")
    assert_fields_of(page, "OAuth 2.0")
    keyboard.press("Tab")
    expect(field(page, "Username")).to_be_focused()
    # The hidden Password field takes no focus: the next stop is the first OAuth 2.0 field.
    keyboard.press("Tab")
    expect(field(page, "Token URL")).to_be_focused()
    journey.shot("oauth2-fields-by-keyboard")

    keyboard.press("Shift+Tab")
    keyboard.press("Shift+Tab")
    expect(method).to_be_focused()
    keyboard.press("ArrowDown")
    assert_fields_of(page, "Google service account")
    keyboard.press("Tab")
    keyboard.press("Tab")
    expect(field(page, "Service account key")).to_be_focused()
    journey.shot("service-account-fields-by-keyboard")

    keyboard.press("Shift+Tab")
    keyboard.press("Shift+Tab")
    expect(method).to_be_focused()
    keyboard.press("ArrowUp")
    keyboard.press("ArrowUp")
    assert_fields_of(page, "Password")
    keyboard.press("Tab")
    keyboard.press("Tab")
    expect(field(page, "Password")).to_be_focused()

    keyboard.press("Shift+Tab")
    keyboard.press("Shift+Tab")
    keyboard.press("Shift+Tab")
    expect(field(page, "Use authentication")).to_be_focused()
    keyboard.press("Space")
    expect(method).to_be_hidden()
    expect(field(page, "Username")).to_be_hidden()
    keyboard.press("Tab")
    # With authentication off the next stop is past all its fields: the Save button.
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_focused()


def test_without_javascript_every_method_shows_under_its_heading(
    browser: Browser, live_url: str, admin_user: User, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(
        base_url=live_url, viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    try:
        directory = SCREENSHOTS / "without-javascript"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        journey = Journey(context.new_page(), live_url, directory)
        page = open_mail_settings(journey)
        for method, labels in METHOD_FIELDS.items():
            group = page.get_by_role("group", name=method, exact=True)
            expect(group).to_be_visible()
            for label in labels:
                expect(group.get_by_label(label, exact=True)).to_be_visible()
        expect(field(page, "Authentication method")).to_be_visible()
        journey.shot("mail-server-without-javascript")
        journey.problems.assert_none()
    finally:
        context.close()
