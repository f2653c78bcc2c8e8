"""Pages at 320 px, "Check your email", the Copy button, row link names and the API docs' header."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from autommate.accounts.models import Role, User
from autommate.accounts.tokens import api_token_create
from autommate.audit.models import Action
from autommate.audit.services import audit_record
from autommate.delivery.models import OutgoingMessage
from tests.browser.conftest import Journey
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

# A name that is one long word: the heading that greets it must wrap, not widen the page.
LONG_NAME = "Maximilianeantoinettebernadette Featherstonehaugh-Cholmondeley"
ADMIN_EMAIL = "admin@example.org"


def log_in(journey: Journey, email: str, password: str) -> None:
    page = journey.page
    journey.goto("/login/")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.fixture
def busy_admin(db) -> User:
    """An administrator with a long name, and enough in every table to make it wide."""
    admin = User.objects.create_user(
        ADMIN_EMAIL, ADMIN_PASSWORD, full_name=LONG_NAME, role=Role.ADMINISTRATOR
    )
    for number in range(5):
        User.objects.create_user(
            f"someone.with.a.long.address.{number}@subdomain.example.org",
            full_name=f"Person Number{number}",
        )
        api_token_create(user=admin, name=f"nightly backup script {number}", expires_at=None)
        OutgoingMessage.objects.create(
            kind="reset",
            recipient=f"someone.with.a.long.address.{number}@subdomain.example.org",
            state="failed",
            last_error="Connection refused by smtp.subdomain.example.org:587 after 3 tries",
        )
        audit_record(
            Action.USER_CHANGED,
            actor=admin,
            client_address="2001:db8:85a3::8a2e:370:7334",
            target=f"someone.with.a.long.address.{number}@subdomain.example.org",
            fields="full_name,role,is_active,language",
        )
    return admin


@pytest.mark.parametrize(
    "path", ["/", "/users/", "/account/tokens/", "/settings/mail/log/", "/settings/audit/"]
)
def test_pages_fit_a_320_px_screen(journey: Journey, busy_admin: User, path: str) -> None:
    page = journey.page
    log_in(journey, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.set_viewport_size({"width": 320, "height": 640})

    journey.goto(path)

    journey.shot(f"320px-{path.strip('/').replace('/', '-') or 'home'}")
    assert page_width(page) <= 320
    tables = page.locator(".table-scroll")
    if path != "/":
        # The table keeps its columns and scrolls inside its own box, which the keyboard reaches.
        expect(tables).to_have_count(1)
        expect(tables).to_have_attribute("tabindex", "0")
        box = tables.bounding_box()
        assert box is not None
        assert box["width"] <= 320


def test_pages_use_the_dark_colours_the_reader_asked_for(
    journey: Journey, busy_admin: User, context: BrowserContext
) -> None:
    page = journey.page
    page.emulate_media(color_scheme="dark")
    log_in(journey, ADMIN_EMAIL, ADMIN_PASSWORD)
    journey.goto("/users/")
    journey.shot("users-dark")

    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    ink = page.evaluate("getComputedStyle(document.body).color")
    assert background == "rgb(16, 20, 27)"
    assert ink == "rgb(230, 233, 239)"


def test_check_your_email_after_asking_for_a_reset(journey: Journey, forgot_password_on) -> None:
    page = journey.page
    journey.goto("/forgot-password/")
    page.get_by_label("Email", exact=True).fill("dana.smith@example.org")
    page.get_by_role("button", name="Reset Password").click()

    expect(page).to_have_url(re.compile(r"/forgot-password/check-email/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.locator("main")).to_contain_text("dana.smith@example.org")
    expect(page.locator("main")).to_contain_text("expires in 60 minutes")
    expect(page.locator("main")).to_contain_text("check your spam folder")
    expect(page.get_by_label("Email", exact=True)).to_have_count(0)
    journey.shot("check-your-email")

    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.locator("main")).to_contain_text("dana.smith@example.org")
    journey.shot("check-your-email-again")


def test_copy_button_copies_a_new_token(journey: Journey, busy_admin: User, context) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = journey.page
    log_in(journey, ADMIN_EMAIL, ADMIN_PASSWORD)
    journey.goto("/account/tokens/")
    page.get_by_label("Name").fill("deploy")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()

    page.get_by_role("button", name="Copy", exact=True).click()

    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    journey.shot("token-copied")


def test_copy_button_selects_the_token_without_a_clipboard(
    journey: Journey, busy_admin: User
) -> None:
    page = journey.page
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    log_in(journey, ADMIN_EMAIL, ADMIN_PASSWORD)
    journey.goto("/account/tokens/")
    page.get_by_label("Name").fill("deploy")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()

    page.get_by_role("button", name="Copy", exact=True).click()

    expect(page.get_by_text("The token is selected")).to_be_visible()
    assert page.evaluate("window.getSelection().toString()").strip() == secret
    journey.shot("token-selected")


def test_row_links_say_what_they_open(journey: Journey, busy_admin: User) -> None:
    page = journey.page
    User.objects.create_user("dana@example.org", full_name="Dana Smith")
    log_in(journey, ADMIN_EMAIL, ADMIN_PASSWORD)
    journey.goto("/users/")

    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Deactivate", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Edit Dana Smith", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("dana@example.org")

    journey.goto("/account/tokens/")
    expect(
        page.get_by_role("button", name="Revoke nightly backup script 0", exact=True)
    ).to_be_visible()


def test_api_docs_have_the_product_header_and_a_way_back(
    journey: Journey, busy_admin: User
) -> None:
    page = journey.page
    page.emulate_media(color_scheme="dark")
    log_in(journey, ADMIN_EMAIL, ADMIN_PASSWORD)
    journey.goto("/api/v1/docs")
    expect(page.get_by_role("link", name="Autom Mate")).to_be_visible()
    expect(page.locator("#swagger-ui .info")).to_be_visible()
    # Swagger UI draws dark text only: its box stays light in dark mode.
    background = page.evaluate("getComputedStyle(document.querySelector('main')).backgroundColor")
    assert background == "rgb(255, 255, 255)"
    journey.shot("api-docs")

    page.get_by_role("link", name="Back to API tokens").click()

    expect(page).to_have_url(re.compile(r"/account/tokens/$"))
