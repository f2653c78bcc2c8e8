"""The seed's whole journey in a real browser, with a real SMTP server receiving the mail.

The administrator signs in, adds a user, sets up the mail server, sends a test mail and confirms
its delivery with the code it carries, switches Forgot Password on and logs out. The user then asks
for a reset on the login page, opens the email the SMTP server received, follows its Reset
Password button, chooses a new password and signs in with it. Elements are found by the labels
DESIGN.md fixes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect

from autommate.accounts.models import User
from tests.browser.conftest import Journey
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD
from tests.smtp_server import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    LocalCA,
    ReceivedMessage,
    SMTPServerFactory,
    SMTPTestServer,
)

pytestmark = pytest.mark.browser

SENDER_NAME = "Autom Mate Support"
SENDER_EMAIL = "noreply@automate.example"
TEST_RECIPIENT = "ops@example.org"
USER_EMAIL = "mike.user@example.org"
USER_NAME = "Mike Jones"
NEW_PASSWORD = "violet kettle drums at dawn 42"
CONFIRMATION_CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")
PLAIN_STEPS = (
    "Resolve server name",
    "Connect",
    "Greeting (EHLO)",
    "Sender accepted",
    "Recipient accepted",
    "Message accepted",
)
# With STARTTLS and authentication every step of the conversation is taken; without them the
# TLS handshake and the login are skipped.
ALL_STEPS = (*PLAIN_STEPS, "TLS handshake", "Log in")

RunWorker = Callable[[], None]


@dataclass(frozen=True)
class MailServerEntry:
    """What the administrator types into the mail server form."""

    host: str
    port: int
    starttls: bool = False
    username: str = ""
    password: str = ""
    ca_certificate: str = ""


# -- Steps of the journey -----------------------------------------------------------------------


def notification(page: Page) -> Locator:
    return page.get_by_role("status")


def assert_notification_at_top(page: Page, text: str) -> None:
    """The notification reads `text` and sits above the page's heading."""
    status = notification(page).filter(has_text=text)
    expect(status).to_be_visible()
    status_box = status.bounding_box()
    heading_box = page.get_by_role("heading", level=1).bounding_box()
    assert status_box is not None
    assert heading_box is not None
    assert status_box["y"] < heading_box["y"]


def sign_in(journey: Journey, email: str, password: str) -> None:
    page = journey.page
    expect(page).to_have_url(re.compile(r"/login/"))
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(journey: Journey) -> None:
    journey.page.get_by_role("button", name="Log out").click()
    expect(journey.page).to_have_url(re.compile(r"/login/$"))


def add_user(journey: Journey) -> None:
    page = journey.page
    journey.goto("/users/")
    journey.shot("users-list")
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("Email", exact=True).fill(USER_EMAIL)
    page.get_by_label("Full name").fill(USER_NAME)
    page.get_by_label("Role").select_option(label="User")
    page.get_by_label("Active").check()
    page.get_by_label("Password", exact=True).fill(USER_PASSWORD)
    journey.shot("add-user-filled-in")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/users/$"))
    expect(notification(page)).to_contain_text(f"User {USER_EMAIL} has been added")
    expect(page.get_by_role("row").filter(has_text=USER_EMAIL)).to_contain_text("Active")
    journey.shot("user-added")


def fill_mail_server(journey: Journey, entry: MailServerEntry) -> None:
    page = journey.page
    journey.goto("/settings/mail/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mail server")
    journey.shot("mail-server-empty")
    # The seed's example: Gmail is smtp.gmail.com, port 587, with TLS enabled.
    page.get_by_label("Preset").select_option(label="Gmail")
    page.get_by_role("button", name="Apply preset").click()
    expect(page.get_by_label("Server name")).to_have_value("smtp.gmail.com")
    expect(page.get_by_label("Port")).to_have_value("587")
    expect(page.get_by_label("Enable TLS")).to_be_checked()
    page.get_by_label("Server name").fill(entry.host)
    page.get_by_label("Port").fill(str(entry.port))
    page.get_by_label("Protocol").select_option(label="SMTP")
    page.get_by_label("Enable TLS").set_checked(entry.starttls)
    page.get_by_label("Sender name").fill(SENDER_NAME)
    page.get_by_label("Sender email").fill(SENDER_EMAIL)
    page.get_by_label("Use authentication").set_checked(bool(entry.username))
    if entry.username:
        page.get_by_label("Username").fill(entry.username)
        page.get_by_label("Password", exact=True).fill(entry.password)
    if entry.ca_certificate:
        page.get_by_label("CA certificate").fill(entry.ca_certificate)
    journey.shot("mail-server-filled-in")
    # The seed's order has no Save press: Send test mail saves what it tests.


def assert_saved_by_the_test(journey: Journey, entry: MailServerEntry) -> None:
    page = journey.page
    expect(notification(page).filter(has_text="Saved and tested")).to_be_visible()
    expect(page.get_by_label("Server name")).to_have_value(entry.host)
    expect(page.get_by_label("Sender name")).to_have_value(SENDER_NAME)
    expect(page.get_by_text("Not verified", exact=True)).to_be_visible()
    if entry.username:
        expect(page.get_by_text("A password is saved.")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm delivery")).to_be_visible()


def send_test_mail(journey: Journey, steps: tuple[str, ...]) -> None:
    page = journey.page
    page.get_by_label("Test recipient").fill(TEST_RECIPIENT)
    page.get_by_role("button", name="Send test mail").click()
    result = page.get_by_role("region", name=f"Test mail to {TEST_RECIPIENT}")
    expect(result).to_be_visible()
    expect(result.get_by_role("status")).to_contain_text("waiting for you to confirm delivery")
    for label in steps:
        step = result.get_by_role("listitem").filter(has=page.get_by_text(label, exact=True))
        expect(step).to_contain_text(f"{label} — passed")
    expect(result.get_by_text("failed", exact=True)).to_have_count(0)
    journey.shot("test-mail-accepted-waiting-for-confirmation")


def body(message: ReceivedMessage, subtype: str) -> str:
    """Return the text of the message's text/plain or text/html part."""
    part = message.get_body((subtype,))
    assert part is not None, f"the message has no text/{subtype} part"
    assert part.get_content_type() == f"text/{subtype}"
    return str(part.get_content())


def confirmation_code(message: ReceivedMessage) -> str:
    assert "confirm" in str(message["Subject"]).lower()
    match = CONFIRMATION_CODE.search(body(message, "plain"))
    assert match, "the test mail carries no confirmation code"
    return match.group(1)


def confirm_delivery(journey: Journey, code: str) -> None:
    page = journey.page
    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm delivery").click()
    expect(page).to_have_url(re.compile(r"/settings/mail/$"))
    expect(notification(page)).to_contain_text("Delivery confirmed")
    expect(page.get_by_text("Verified", exact=True)).to_be_visible()
    journey.shot("delivery-confirmed")


def enable_forgot_password(journey: Journey) -> None:
    page = journey.page
    journey.goto("/settings/forgot-password/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot Password")
    journey.shot("forgot-password-settings-off")
    page.get_by_label("Enable Forgot Password").check()
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/settings/forgot-password/$"))
    expect(notification(page)).to_contain_text("Forgot Password settings saved")
    expect(page.get_by_label("Enable Forgot Password")).to_be_checked()
    expect(page.get_by_text("On", exact=True)).to_be_visible()
    journey.shot("forgot-password-enabled")


def set_up_as_administrator(
    journey: Journey, server: SMTPTestServer, entry: MailServerEntry
) -> None:
    """The administrator's half of the seed, from signing in to logging out."""
    page = journey.page
    journey.goto("/login/")
    expect(page.get_by_role("link", name="Forgot Password")).to_have_count(0)
    journey.shot("admin-login")
    sign_in(journey, "admin@example.org", ADMIN_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    journey.shot("admin-signed-in")
    add_user(journey)
    fill_mail_server(journey, entry)
    expect(page.get_by_role("button", name="Confirm delivery")).to_have_count(0)
    send_test_mail(journey, ALL_STEPS if entry.starttls else PLAIN_STEPS)
    assert_saved_by_the_test(journey, entry)
    (test_mail,) = server.wait_for(1)
    assert test_mail.rcpt_tos == [TEST_RECIPIENT]
    confirm_delivery(journey, confirmation_code(test_mail))
    enable_forgot_password(journey)
    log_out(journey)
    expect(notification(page)).to_contain_text("logged out")


def request_reset(journey: Journey) -> None:
    page = journey.page
    journey.goto("/login/")
    journey.shot("login-with-forgot-password")
    page.get_by_role("link", name="Forgot Password").click()
    expect(page).to_have_url(re.compile(r"/forgot-password/$"))
    journey.shot("forgot-password")
    page.get_by_label("Email", exact=True).fill(USER_EMAIL)
    page.get_by_role("button", name="Reset Password").click()
    assert_notification_at_top(page, "reset email has been sent")
    journey.shot("reset-email-sent-notification")


def receive_reset_mail(
    server: SMTPTestServer,
    run_worker: RunWorker,
    sender: tuple[str, str] = (SENDER_NAME, SENDER_EMAIL),
) -> ReceivedMessage:
    """Run the background worker as the deployment's worker would, and return the reset mail."""
    already = len(server.messages)
    run_worker()
    messages = server.wait_for(already + 1)
    (reset_mail,) = (m for m in messages[already:] if USER_EMAIL in m.rcpt_tos)
    assert "Reset" in str(reset_mail["Subject"])
    (from_address,) = reset_mail["From"].addresses
    assert (from_address.display_name, from_address.addr_spec) == sender
    return reset_mail


def plain_text_link(message: ReceivedMessage, live_url: str) -> str:
    text = body(message, "plain")
    (link,) = set(re.findall(r"https?://\S+", text))
    assert link.startswith(f"{live_url}/reset-password/")
    return str(link)


def open_in_mail_reader(journey: Journey, message: ReceivedMessage) -> None:
    """Show the email's HTML part as a mail client would, on a blank page without the app's CSP."""
    journey.page.goto("about:blank")
    journey.page.set_content(body(message, "html"))
    journey.shot("reset-email")


def change_password(journey: Journey) -> None:
    page = journey.page
    expect(page).to_have_url(re.compile(r"/reset-password/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text(USER_EMAIL)).to_be_visible()
    journey.shot("new-password-form")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    assert_notification_at_top(page, "password has been changed")
    journey.shot("password-changed-notification")


def sign_in_with_new_password(journey: Journey) -> None:
    page = journey.page
    sign_in(journey, USER_EMAIL, USER_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("email or password is not correct")
    journey.shot("old-password-refused")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Mike")
    expect(page.get_by_text(f"You are logged in as {USER_EMAIL}")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    journey.shot("user-signed-in-with-new-password")


# -- The journeys ---------------------------------------------------------------------------------


def test_admin_sets_up_mail_then_user_resets_password_with_the_email_button(
    journey: Journey, admin_user: User, smtp_server: SMTPTestServer, run_worker: RunWorker
) -> None:
    entry = MailServerEntry(host=smtp_server.host, port=smtp_server.port)
    set_up_as_administrator(journey, smtp_server, entry)

    request_reset(journey)
    reset_mail = receive_reset_mail(smtp_server, run_worker)
    link = plain_text_link(reset_mail, journey.base_url)
    open_in_mail_reader(journey, reset_mail)
    button = journey.page.get_by_role("link", name="Reset Password", exact=True)
    expect(button).to_have_attribute("href", link)
    expect(journey.page.get_by_role("link", name=link)).to_be_visible()
    button.click()

    change_password(journey)
    sign_in_with_new_password(journey)


def test_mail_over_starttls_with_authentication_and_private_ca_carries_the_reset(
    journey: Journey,
    admin_user: User,
    smtp_server_factory: SMTPServerFactory,
    test_ca: LocalCA,
    run_worker: RunWorker,
) -> None:
    server = smtp_server_factory("starttls", auth=True, require_starttls=True)
    entry = MailServerEntry(
        host="localhost",
        port=server.port,
        starttls=True,
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        ca_certificate=test_ca.pem,
    )
    set_up_as_administrator(journey, server, entry)

    request_reset(journey)
    reset_mail = receive_reset_mail(server, run_worker)
    assert reset_mail.login == DEFAULT_USERNAME
    assert "STARTTLS" in server.commands
    link = plain_text_link(reset_mail, journey.base_url)
    open_in_mail_reader(journey, reset_mail)
    # The link written out below the button, for mail clients where the button does not work.
    journey.page.get_by_role("link", name=link).click()

    change_password(journey)
    sign_in_with_new_password(journey)


def test_link_in_plain_text_part_works_when_the_button_does_not(
    journey: Journey,
    forgot_password_on: object,
    smtp_server: SMTPTestServer,
    run_worker: RunWorker,
) -> None:
    User.objects.create_user(USER_EMAIL, USER_PASSWORD, full_name=USER_NAME)
    request_reset(journey)
    reset_mail = receive_reset_mail(
        smtp_server, run_worker, sender=("Autom Mate", "noreply@example.org")
    )
    journey.page.goto(plain_text_link(reset_mail, journey.base_url))

    change_password(journey)
    sign_in_with_new_password(journey)


def test_enabling_forgot_password_before_confirming_delivery_is_refused_with_the_reason(
    journey: Journey, admin_user: User, smtp_server: SMTPTestServer
) -> None:
    page = journey.page
    journey.goto("/login/")
    sign_in(journey, "admin@example.org", ADMIN_PASSWORD)
    fill_mail_server(journey, MailServerEntry(host=smtp_server.host, port=smtp_server.port))
    send_test_mail(journey, PLAIN_STEPS)

    journey.goto("/settings/forgot-password/")
    reason = "Confirm the delivery of a test mail"
    expect(page.get_by_text(reason)).to_be_visible()
    page.get_by_label("Enable Forgot Password").check()
    page.get_by_role("button", name="Save").click()
    enabled = page.get_by_label("Enable Forgot Password")
    expect(enabled).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-invalid").filter(has=enabled)).to_contain_text(reason)
    expect(notification(page)).to_have_count(0)
    journey.shot("enabling-refused-with-reason")

    journey.goto("/settings/forgot-password/")
    expect(page.get_by_label("Enable Forgot Password")).not_to_be_checked()
    expect(page.get_by_text("Off", exact=True)).to_be_visible()
    log_out(journey)
    expect(page.get_by_role("link", name="Forgot Password")).to_have_count(0)
    journey.goto("/forgot-password/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot Password is off")
    expect(page.get_by_role("button", name="Reset Password")).to_have_count(0)
    journey.shot("forgot-password-off-for-users")
