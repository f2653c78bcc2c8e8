"""Forms every user can use: errors tied to their fields, an error summary that takes focus, a
skip link, a compact menu on a phone's screen and a focus ring on every control.

Each test drives Chromium as a keyboard or screen reader user would, so that each of these
properties fails here if it ever comes back broken.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from autommate.accounts.models import User
from autommate.mailserver.models import MailServerSettings, TestMailCode
from tests.browser.conftest import Journey
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

# A phone's first screen, and a 1280 x 900 window zoomed to 200 %.
SMALL_SCREENS = [(320, 568), (640, 450)]


def focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def submit_empty_login(journey: Journey) -> None:
    journey.goto("/login/")
    journey.page.get_by_role("button", name="Log in").click()
    journey.page.wait_for_load_state()


def sign_in_as(journey: Journey, user: User) -> None:
    journey.goto("/login/")
    journey.page.get_by_label("Email", exact=True).fill(user.email)
    journey.page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    journey.page.get_by_role("button", name="Log in").click()
    expect(journey.page).not_to_have_url(re.compile(r"/login/"))


@pytest.mark.django_db(transaction=True)
def test_each_invalid_field_names_its_message_for_screen_readers(journey: Journey) -> None:
    page = journey.page
    submit_empty_login(journey)
    journey.shot("login-errors")

    for label in ("Email", "Password"):
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        described_by = field.get_attribute("aria-describedby") or ""
        error_ids = [i for i in described_by.split() if i.endswith("_error")]
        assert error_ids, f"{label}: aria-describedby={described_by!r} names no error"
        for element_id in described_by.split():
            expect(page.locator(f"#{element_id}")).to_have_count(1)
        expect(page.locator(f"#{error_ids[0]}")).to_contain_text("This field is required")
        expect(field).to_have_accessible_description(re.compile("This field is required"))
        # The red border shows on the field itself, not only in the small text below it.
        border = field.evaluate("e => getComputedStyle(e).borderTopColor")
        assert border == "rgb(179, 38, 30)", f"{label}: border {border}"


@pytest.mark.django_db(transaction=True)
def test_error_summary_takes_focus_and_links_to_each_field(journey: Journey) -> None:
    page = journey.page
    submit_empty_login(journey)

    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: Log in"))
    # It is the first thing in <main>, above the heading.
    expect(page.locator("main > :first-child")).to_have_attribute("data-error-summary", "")

    links = summary.get_by_role("link")
    expect(links).to_have_count(2)
    links.nth(1).click()
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    links.nth(0).click()
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    journey.shot("login-summary-link-followed")


@pytest.mark.django_db(transaction=True)
def test_error_summary_links_an_error_of_the_whole_form_to_its_first_field(
    journey: Journey, admin_user: User
) -> None:
    page = journey.page
    journey.goto("/login/")
    page.get_by_label("Email", exact=True).fill(admin_user.email)
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Log in").click()

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Email", exact=True)).to_be_focused()


@pytest.mark.django_db(transaction=True)
def test_a_page_without_errors_keeps_its_plain_title(journey: Journey) -> None:
    journey.goto("/login/")

    expect(journey.page).to_have_title("Log in · Autom Mate")
    expect(journey.page.locator("[data-error-summary]")).to_have_count(0)


@pytest.mark.django_db(transaction=True)
def test_notification_after_a_successful_submit_is_in_main_and_focused(
    journey: Journey, admin_user: User
) -> None:
    page = journey.page
    sign_in_as(journey, admin_user)
    journey.goto("/account/tokens/")
    page.get_by_label("Name").fill("deploy script")
    page.get_by_role("button", name="Create token").click()

    notifications = page.locator("main [data-notifications]")
    expect(notifications).to_be_visible()
    expect(notifications).to_be_focused()
    journey.shot("token-created")


@pytest.mark.django_db(transaction=True)
def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(
    journey: Journey, admin_user: User
) -> None:
    page = journey.page
    sign_in_as(journey, admin_user)
    journey.goto("/users/")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).not_to_be_in_viewport()

    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    journey.shot("skip-link-shown")
    page.keyboard.press("Enter")
    assert focused_id(page) == "main"
    # The next Tab goes into the content, past the header's links.
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


@pytest.mark.parametrize(("width", "height"), SMALL_SCREENS)
@pytest.mark.django_db(transaction=True)
def test_on_a_small_screen_the_content_starts_on_the_first_screen(
    journey: Journey, admin_user: User, width: int, height: int
) -> None:
    page = journey.page
    page.set_viewport_size({"width": width, "height": height})
    sign_in_as(journey, admin_user)
    journey.goto("/users/")

    heading = page.get_by_role("heading", level=1).bounding_box()
    assert heading is not None
    assert heading["y"] + heading["height"] <= height, heading
    expect(page.get_by_role("link", name="Mail log")).to_be_hidden()
    journey.shot("phone-menu-closed")

    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("link", name="Mail log")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    journey.shot("phone-menu-open")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Users")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(page.get_by_role("link", name="Mail log")).to_be_hidden()


def tab_through(page: Page, limit: int = 60) -> list[tuple[str, str, float, str]]:
    """Tab from the top of the page to its end; return each stop and its focus style."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    stops: list[tuple[str, str, float, str]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            break
        name, style, width, halo = page.evaluate(
            "() => { const e = document.activeElement, s = getComputedStyle(e);"
            " return [e.tagName + ' ' + (e.textContent || e.name || '').trim().slice(0, 30),"
            " s.outlineStyle, parseFloat(s.outlineWidth), s.boxShadow]; }"
        )
        stops.append((str(name), str(style), float(width), str(halo)))
    return stops


@pytest.mark.django_db(transaction=True)
def test_every_control_shows_the_products_focus_ring(journey: Journey, admin_user: User) -> None:
    page = journey.page
    journey.goto("/login/")
    stops = tab_through(page)
    sign_in_as(journey, admin_user)
    journey.goto("/users/add/")
    stops += tab_through(page)

    assert len(stops) >= 15, stops
    for name, outline_style, outline_width, halo in stops:
        assert outline_style == "solid", name
        assert outline_width >= 3, name
        assert "255, 191, 71" in halo, (name, halo)


def assert_errors_wired(page: Page) -> None:
    """Each summary link reaches a visible field, and each invalid field names its messages."""
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    links = summary.get_by_role("link")
    assert links.count() >= 1
    for index in range(links.count()):
        target = (links.nth(index).get_attribute("href") or "").removeprefix("#")
        field = page.locator(f"[id='{target}']")
        expect(field).to_be_visible()
        links.nth(index).click()
        expect(field).to_be_focused()
    invalid = page.locator("[aria-invalid='true']")
    for index in range(invalid.count()):
        for element_id in (invalid.nth(index).get_attribute("aria-describedby") or "").split():
            expect(page.locator(f"[id='{element_id}']")).not_to_be_empty()


def _test_mail_waiting(admin: User) -> None:
    """Save mail settings and record a test mail sent with them, whose code is still unused."""
    mail_server = MailServerSettings.objects.create(
        pk=1, host="smtp.example.org", sender_email="noreply@example.org"
    )
    now = timezone.now()
    TestMailCode.objects.create(
        code_hash="0" * 64,
        link_hash="1" * 64,
        fingerprint=mail_server.fingerprint(),
        recipient="ops@example.org",
        created_by=admin,
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )


@pytest.mark.django_db(transaction=True)
def test_errors_are_wired_on_the_administrators_forms(journey: Journey, admin_user: User) -> None:
    page = journey.page
    sign_in_as(journey, admin_user)

    journey.goto("/users/add/")
    page.get_by_label("Email", exact=True).fill("not an address")
    page.get_by_role("button", name="Save").click()
    assert_errors_wired(page)
    journey.shot("add-user-errors")

    journey.goto("/settings/mail/")
    page.get_by_label("Port").fill("0")
    page.get_by_role("button", name="Save").click()
    assert_errors_wired(page)
    journey.shot("mail-server-errors")

    # Confirm delivery is offered while a test mail waits for its code: one is on its way.
    _test_mail_waiting(admin_user)
    journey.goto("/settings/mail/")
    page.get_by_label("Confirmation code").fill("ABCD-EFGH")
    page.get_by_role("button", name="Confirm delivery").click()
    assert_errors_wired(page)
    journey.shot("wrong-code-summarised")

    journey.goto("/account/tokens/")
    page.get_by_role("button", name="Create token").click()
    assert_errors_wired(page)
    journey.shot("token-errors")
