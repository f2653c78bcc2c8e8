"""Fixtures for the browser tests: Debian's Chromium driven by Playwright against a live server.

Every page the journey reaches is screenshotted under test-output/screenshots/<test>/ and checked
for a stack trace, a server error and Content Security Policy violations reported on the console.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    Response,
    sync_playwright,
)
from pytest_django.live_server_helper import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
# Failures should show within seconds, not after Playwright's default 30 s.
TIMEOUT_MS = 10_000

STACK_TRACE_MARKERS = (
    "Traceback (most recent call last)",
    "Exception Value:",
    "Request Method:",
    "Server Error (500)",
)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Start Chromium once for all browser tests.

    The Playwright sync API keeps an event loop running in this thread, and Django refuses ORM
    calls from a thread with a running loop. The tests call the ORM synchronously and on
    purpose (fixtures, the worker), so the check is lifted for as long as the browser runs, and
    only for the browser tests.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright: Playwright = sync_playwright().start()
        try:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield chromium
            finally:
                chromium.close()
        finally:
            playwright.stop()


@pytest.fixture
def live_url(live_server: LiveServer, settings) -> str:
    """The live server's address, which every link in every email must point at."""
    url = str(live_server.url)
    host = url.split("://", 1)[1].rsplit(":", 1)[0]
    settings.BASE_URL = url
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    settings.CSRF_TRUSTED_ORIGINS = [*settings.CSRF_TRUSTED_ORIGINS, url]
    return url


@dataclass
class PageProblems:
    """What the browser reported that no page of the product should cause."""

    csp_violations: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_violations.append(f"{message.type}: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.script_errors.append(str(error))

    def on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def assert_none(self) -> None:
        assert not self.csp_violations, self.csp_violations
        assert not self.script_errors, self.script_errors
        assert not self.server_errors, self.server_errors


class Journey:
    """A browser page plus the record of the journey: numbered screenshots and checks."""

    def __init__(self, page: Page, base_url: str, directory: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.directory = directory
        self.problems = PageProblems()
        self.step = 0
        self.watch(page)

    def watch(self, page: Page) -> None:
        """Report the console, script errors and server errors of `page` (also a mail reader's)."""
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", self.problems.on_console)
        page.on("pageerror", self.problems.on_page_error)
        page.on("response", self.problems.on_response)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def shot(self, name: str, page: Page | None = None) -> Path:
        """Screenshot the page as the next numbered step and check it shows no error."""
        page = page or self.page
        page.wait_for_load_state()
        self.step += 1
        path = self.directory / f"{self.step:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if page.url.startswith(self.base_url):
            assert page.locator("h1").count() == 1, f"{path.name}: a page has one <h1>"
        text = page.locator("body").inner_text()
        for marker in STACK_TRACE_MARKERS:
            assert marker not in text, f"{path.name}: the page shows {marker!r}"
        self.problems.assert_none()
        return path


@pytest.fixture
def context(browser: Browser, live_url: str) -> Iterator[BrowserContext]:
    browser_context = browser.new_context(
        base_url=live_url, viewport={"width": 1280, "height": 900}
    )
    yield browser_context
    browser_context.close()


@pytest.fixture
def journey(
    context: BrowserContext, live_url: str, request: pytest.FixtureRequest
) -> Iterator[Journey]:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower()).strip("-")
    directory = SCREENSHOTS / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    walk = Journey(context.new_page(), live_url, directory)
    yield walk
    walk.problems.assert_none()
