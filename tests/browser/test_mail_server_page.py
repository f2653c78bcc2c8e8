"""The mail server page as a first-time administrator and a keyboard-only user meet it: the test
sends what is typed, Enter in Test recipient sends the test, nothing typed is lost when a test
fails, and a preset changes nothing until applied, asking before it replaces what is there."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import Browser, Page, expect

from autommate.accounts.models import User
from autommate.mailserver.models import MailServerSettings
from tests.browser.conftest import SCREENSHOTS, Journey
from tests.browser.test_oauth_journey import field, open_mail_settings
from tests.browser.test_seed_journey import (
    PLAIN_STEPS,
    SENDER_EMAIL,
    SENDER_NAME,
    TEST_RECIPIENT,
    confirm_delivery,
    confirmation_code,
    notification,
    send_test_mail,
)
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.browser


def fill_in(page: Page, host: str, port: int) -> None:
    field(page, "Server name").fill(host)
    field(page, "Port").fill(str(port))
    field(page, "Enable TLS").set_checked(False)
    field(page, "Sender name").fill(SENDER_NAME)
    field(page, "Sender email").fill(SENDER_EMAIL)


def test_seed_order_without_save_saves_what_was_tested_and_ends_verified(
    journey: Journey, admin_user: User, smtp_server: SMTPTestServer
) -> None:
    page = open_mail_settings(journey)
    expect(page.locator("#next-step")).to_contain_text("Send test mail")
    expect(page.get_by_role("button", name="Confirm delivery")).to_have_count(0)
    fill_in(page, smtp_server.host, smtp_server.port)
    send_test_mail(journey, PLAIN_STEPS)
    expect(notification(page).filter(has_text="Saved and tested")).to_be_visible()
    next_step = page.locator("#next-step")
    expect(next_step).to_contain_text(f"open the test mail sent to {TEST_RECIPIENT}")
    expect(field(page, "Server name")).to_have_value(smtp_server.host)
    confirm_delivery(journey, confirmation_code(smtp_server.wait_for(1)[0]))
    expect(page.locator("#next-step")).to_contain_text("Done: delivery is confirmed")
    expect(page.get_by_role("button", name="Confirm delivery")).to_have_count(0)
    assert MailServerSettings.objects.get().is_verified


def test_enter_in_test_recipient_sends_the_test_not_save(
    journey: Journey, admin_user: User, smtp_server: SMTPTestServer
) -> None:
    page = open_mail_settings(journey)
    expect(page.get_by_text("With JavaScript off")).to_be_hidden()
    fill_in(page, smtp_server.host, smtp_server.port)
    field(page, "Test recipient").fill(TEST_RECIPIENT)
    field(page, "Test recipient").press("Enter")
    expect(page.get_by_role("region", name=f"Test mail to {TEST_RECIPIENT}")).to_be_visible()
    expect(field(page, "Test recipient")).to_have_value(TEST_RECIPIENT)
    (message,) = smtp_server.wait_for(1)
    assert message.rcpt_tos == [TEST_RECIPIENT]
    journey.shot("test-sent-with-enter")


def test_failed_test_keeps_everything_typed_and_offers_no_confirmation(
    journey: Journey, admin_user: User, smtp_server: SMTPTestServer
) -> None:
    page = open_mail_settings(journey)
    port = smtp_server.port
    smtp_server.stop()
    fill_in(page, smtp_server.host, port)
    field(page, "Test recipient").fill(TEST_RECIPIENT)
    page.get_by_role("button", name="Send test mail").click()
    result = page.get_by_role("region", name=f"Test mail to {TEST_RECIPIENT}")
    expect(result.get_by_text("Failed", exact=True)).to_be_visible()
    expect(field(page, "Server name")).to_have_value(smtp_server.host)
    expect(field(page, "Port")).to_have_value(str(port))
    expect(field(page, "Sender name")).to_have_value(SENDER_NAME)
    expect(field(page, "Test recipient")).to_have_value(TEST_RECIPIENT)
    expect(page.get_by_role("button", name="Confirm delivery")).to_have_count(0)

    # A mistake in the settings is shown with everything else as typed, and saves nothing.
    field(page, "Server name").fill("smtp://wrong")
    field(page, "Sender name").fill("Ops Desk")
    page.get_by_role("button", name="Send test mail").click()
    expect(page.locator("#id_host_error")).to_contain_text("Enter only the server name")
    expect(field(page, "Server name")).to_have_value("smtp://wrong")
    expect(field(page, "Sender name")).to_have_value("Ops Desk")
    expect(field(page, "Test recipient")).to_have_value(TEST_RECIPIENT)
    assert MailServerSettings.objects.get().host == smtp_server.host
    journey.shot("failed-test-keeps-values")


def test_preset_changes_nothing_until_applied_and_asks_before_replacing(
    journey: Journey, admin_user: User
) -> None:
    page = open_mail_settings(journey)
    keyboard = page.keyboard
    field(page, "Server name").fill("mail.example.org")
    field(page, "Port").fill("2525")
    preset = field(page, "Preset")
    preset.focus()
    for _ in range(3):
        keyboard.press("ArrowDown")
    expect(field(page, "Server name")).to_have_value("mail.example.org")
    expect(field(page, "Port")).to_have_value("2525")

    keyboard.press("Tab")
    apply = page.get_by_role("button", name="Apply preset")
    expect(apply).to_be_focused()
    keyboard.press("Enter")
    question = page.get_by_role("group", name="replaces what is entered")
    expect(question).to_be_visible()
    expect(question).to_contain_text("Server name")
    expect(question).to_contain_text("Port")
    expect(field(page, "Server name")).to_have_value("mail.example.org")
    journey.shot("preset-asks-before-replacing")

    keyboard.press("Tab")
    keyboard.press("Tab")
    expect(question.get_by_role("button", name="Cancel")).to_be_focused()
    keyboard.press("Space")
    expect(question).to_be_hidden()
    expect(apply).to_be_focused()
    expect(field(page, "Server name")).to_have_value("mail.example.org")
    expect(field(page, "Port")).to_have_value("2525")

    keyboard.press("Enter")
    keyboard.press("Tab")
    expect(question.get_by_role("button", name="Apply and replace")).to_be_focused()
    keyboard.press("Enter")
    expect(question).to_be_hidden()
    expect(field(page, "Server name")).not_to_have_value("mail.example.org")
    expect(field(page, "Port")).not_to_have_value("2525")


def test_without_javascript_enter_in_test_recipient_tests_the_saved_settings(
    browser: Browser,
    live_url: str,
    admin_user: User,
    smtp_server: SMTPTestServer,
) -> None:
    context = browser.new_context(
        base_url=live_url, viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    try:
        directory = SCREENSHOTS / "mail-test-without-javascript"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        journey = Journey(context.new_page(), live_url, directory)
        page = open_mail_settings(journey)
        # A preset cannot apply without the script, so it offers no button that does nothing.
        expect(page.get_by_role("button", name="Apply preset")).to_be_hidden()
        expect(page.get_by_text("With JavaScript off, press Save first")).to_be_visible()
        fill_in(page, smtp_server.host, smtp_server.port)
        page.get_by_role("button", name="Save", exact=True).click()
        field(page, "Test recipient").fill(TEST_RECIPIENT)
        field(page, "Test recipient").press("Enter")
        expect(page.get_by_role("region", name=f"Test mail to {TEST_RECIPIENT}")).to_be_visible()
        expect(page.get_by_role("button", name="Confirm delivery")).to_be_visible()
        assert smtp_server.wait_for(1)[0].rcpt_tos == [TEST_RECIPIENT]
        journey.shot("test-sent-without-javascript")
        journey.problems.assert_none()
    finally:
        context.close()


def test_a_preset_fills_in_its_providers_send_rate_limit(
    journey: Journey, admin_user: User
) -> None:
    page = open_mail_settings(journey)
    field(page, "Preset").select_option("microsoft365-oauth")
    page.get_by_role("button", name="Apply preset").click()

    expect(field(page, "Messages per minute")).to_have_value("30")
    expect(field(page, "Maximum connections")).to_have_value("3")

    # A provider that publishes no limit leaves the fields empty, after asking.
    field(page, "Preset").select_option("relay")
    page.get_by_role("button", name="Apply preset").click()
    question = page.get_by_role("group", name="replaces what is entered")
    expect(question).to_contain_text("Messages per minute")
    question.get_by_role("button", name="Apply and replace").click()
    expect(field(page, "Messages per minute")).to_have_value("")
    expect(field(page, "Maximum connections")).to_have_value("")
