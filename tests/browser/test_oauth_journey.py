"""OAuth 2.0 login to the mail server in a real browser: the preset, the method's fields shown
and hidden with the keyboard alone, and the seed's whole journey with the mail server logging in
with XOAUTH2 and an access token from a real HTTPS token endpoint (tests/oauth_provider.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from autommate.accounts.models import User
from autommate.mailserver.presets import MICROSOFT_SCOPE, MICROSOFT_TOKEN_URL
from tests.browser.conftest import SCREENSHOTS, Journey
from tests.browser.test_seed_journey import (
    ALL_STEPS,
    SENDER_EMAIL,
    SENDER_NAME,
    TEST_RECIPIENT,
    RunWorker,
    add_user,
    change_password,
    confirm_delivery,
    confirmation_code,
    enable_forgot_password,
    log_out,
    notification,
    open_in_mail_reader,
    plain_text_link,
    receive_reset_mail,
    request_reset,
    send_test_mail,
    sign_in,
    sign_in_with_new_password,
)
from tests.conftest import ADMIN_PASSWORD
from tests.oauth_provider import OUTLOOK_SCOPE, TokenEndpoint
from tests.smtp_server import LocalCA, SMTPServerFactory

pytestmark = pytest.mark.browser

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "qWe8Q~browser.journey-secret_7"
WORKSPACE_USER = "noreply@workspace.example"
OAUTH_STEPS = (*ALL_STEPS, "Get access token")

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
    page.get_by_role("button", name="Apply preset").click()
    expect(field(page, "Server name")).to_have_value("smtp.office365.com")
    expect(field(page, "Use authentication")).to_be_checked()
    expect(field(page, "Authentication method")).to_have_value("oauth2")
    expect(field(page, "Token URL")).to_have_value(MICROSOFT_TOKEN_URL)
    expect(field(page, "Scope")).to_have_value(MICROSOFT_SCOPE)
    expect(page.get_by_text("Replace <tenant> in the token URL")).to_be_visible()
    assert_fields_of(page, "OAuth 2.0")
    journey.shot("microsoft-365-oauth-preset")

    page.get_by_label("Preset").select_option(label="Google Workspace (service account)")
    page.get_by_role("button", name="Apply preset").click()
    # The server name and the method entered before are replaced only once confirmed.
    page.get_by_role("button", name="Apply and replace").click()
    expect(field(page, "Server name")).to_have_value("smtp.gmail.com")
    assert_fields_of(page, "Google service account")
    journey.shot("google-workspace-preset")

    page.get_by_label("Preset").select_option(label="Gmail")
    page.get_by_role("button", name="Apply preset").click()
    page.get_by_role("button", name="Apply and replace").click()
    assert_fields_of(page, "Password")


def test_authentication_method_shows_its_fields_with_the_keyboard_only(
    journey: Journey, admin_user: User
) -> None:
    page = open_mail_settings(journey)
    keyboard = page.keyboard
    field(page, "EHLO name").focus()
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
    # With authentication off the next stop is past all its fields: the send rate limit.
    expect(field(page, "Messages per minute")).to_be_focused()


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


# -- The seed's journey, logging in to the mail server with OAuth 2.0 -----------------------------


def fill_oauth2_mail_server(
    journey: Journey, *, port: int, token_url: str, ca_certificate: str
) -> None:
    """Start from the Microsoft 365 (OAuth 2.0) preset and point it at the test servers."""
    page = journey.page
    journey.goto("/settings/mail/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mail server")
    page.get_by_label("Preset").select_option(label="Microsoft 365 (OAuth 2.0)")
    page.get_by_role("button", name="Apply preset").click()
    assert_fields_of(page, "OAuth 2.0")
    # The test server's certificate is issued for localhost by the test CA, which the CA
    # certificate field makes trusted for the mail server and the token URL alike.
    field(page, "Server name").fill("localhost")
    field(page, "Port").fill(str(port))
    expect(field(page, "Enable TLS")).to_be_checked()
    field(page, "CA certificate").fill(ca_certificate)
    field(page, "Sender name").fill(SENDER_NAME)
    field(page, "Sender email").fill(SENDER_EMAIL)
    field(page, "Username").fill(SENDER_EMAIL)
    field(page, "Token URL").fill(token_url)
    field(page, "Client ID").fill(CLIENT_ID)
    field(page, "Client secret").fill(CLIENT_SECRET)
    expect(field(page, "Scope")).to_have_value(OUTLOOK_SCOPE)
    journey.shot("oauth2-mail-server-filled-in")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/mail/$"))
    expect(page.get_by_role("alert").filter(has_text="Mail server settings saved")).to_be_visible()
    expect(page.get_by_text("Not verified", exact=True)).to_be_visible()
    assert_fields_of(page, "OAuth 2.0")
    expect(page.get_by_text("A client secret is saved.")).to_be_visible()
    expect(field(page, "Client secret")).to_have_value("")
    expect(field(page, "Token URL")).to_have_value(token_url)
    assert CLIENT_SECRET not in page.content()
    journey.shot("oauth2-mail-server-saved-not-verified")


def test_admin_sets_up_mail_with_oauth2_then_user_resets_password(
    journey: Journey,
    admin_user: User,
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    run_worker: RunWorker,
) -> None:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET, mailboxes=[SENDER_EMAIL])
    server = smtp_server_factory(
        "starttls", oauth=token_endpoint, require_starttls=True, password_login=False
    )
    page = journey.page
    journey.goto("/login/")
    sign_in(journey, "admin@example.org", ADMIN_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    add_user(journey)
    fill_oauth2_mail_server(
        journey,
        port=server.port,
        token_url=token_endpoint.microsoft_url(),
        ca_certificate=test_ca.pem,
    )

    send_test_mail(journey, OAUTH_STEPS)
    steps = page.get_by_role("listitem")
    token_step = steps.filter(has=page.get_by_text("Get access token", exact=True))
    expect(token_step).to_contain_text("Got an access token from localhost")
    login_step = steps.filter(has=page.get_by_text("Log in", exact=True))
    expect(login_step).to_contain_text("with an access token (XOAUTH2)")
    (test_mail,) = server.wait_for(1)
    assert test_mail.rcpt_tos == [TEST_RECIPIENT]
    assert test_mail.login == SENDER_EMAIL
    confirm_delivery(journey, confirmation_code(test_mail))
    enable_forgot_password(journey)
    log_out(journey)
    expect(notification(page)).to_contain_text("logged out")

    request_reset(journey)
    reset_mail = receive_reset_mail(server, run_worker)
    assert reset_mail.login == SENDER_EMAIL
    # The reset mail logged in with the token the test mail got: one token request for both.
    assert token_endpoint.token_requests == 1
    link = plain_text_link(reset_mail, journey.base_url)
    open_in_mail_reader(journey, reset_mail)
    button = journey.page.get_by_role("link", name="Reset Password", exact=True)
    expect(button).to_have_attribute("href", link)
    button.click()

    change_password(journey)
    sign_in_with_new_password(journey)


def test_service_account_key_file_uploaded_in_the_browser_logs_in(
    journey: Journey,
    admin_user: User,
    smtp_server_factory: SMTPServerFactory,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "service-account.json"
    key_file.write_text(token_endpoint.add_service_account(delegated_users=[WORKSPACE_USER]))
    server = smtp_server_factory(
        "starttls", oauth=token_endpoint, require_starttls=True, xoauth2_style="google"
    )
    page = open_mail_settings(journey)
    page.get_by_label("Preset").select_option(label="Google Workspace (service account)")
    page.get_by_role("button", name="Apply preset").click()
    assert_fields_of(page, "Google service account")
    field(page, "Server name").fill("localhost")
    field(page, "Port").fill(str(server.port))
    field(page, "CA certificate").fill(test_ca.pem)
    field(page, "Sender email").fill(WORKSPACE_USER)
    field(page, "Username").fill(WORKSPACE_USER)
    field(page, "Service account key file").set_input_files(key_file)
    journey.shot("service-account-key-file-chosen")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/mail/$"))
    expect(page.get_by_text("A service account key is saved.")).to_be_visible()
    expect(field(page, "Service account key")).to_have_value("")
    journey.shot("service-account-saved")

    send_test_mail(journey, OAUTH_STEPS)
    (test_mail,) = server.wait_for(1)
    assert test_mail.login == WORKSPACE_USER
    assert token_endpoint.issued[0].subject == WORKSPACE_USER
