"""The browsable API documentation at /api/v1/docs, under the site's Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

CHROMIUM = "/usr/bin/chromium"


def test_docs_page_has_no_inline_script_and_loads_everything_from_this_site(client: Client) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == HTTPStatus.OK
    assert "script-src 'self'" in response["Content-Security-Policy"]
    page = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts
    for attributes, content in scripts:
        # JSON data blocks are not executed; every executed script comes from a file.
        if 'type="application/json"' not in attributes:
            assert 'src="/api/v1/docs/assets/' in attributes
            assert not content.strip()
    assert "<style" not in page
    assert " style=" not in page
    assets = re.findall(r'(?:src|href)="(/api/v1/docs/assets/[^"]+)"', page)
    assert len(assets) == 4
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == HTTPStatus.OK, asset
        assert served["Content-Type"].split(";")[0] in {"text/javascript", "text/css", "image/png"}


def test_docs_assets_outside_the_list_are_not_served(client: Client) -> None:
    for name in ["swagger-ui-bundle.js.map", "..%2F..%2F__init__.py", "redoc.standalone.js"]:
        response = client.get(f"/api/v1/docs/assets/{name}")
        assert response.status_code == HTTPStatus.NOT_FOUND


@pytest.fixture
def chromium_page() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
            )
            try:
                yield browser.new_page()
            finally:
                browser.close()


@pytest.mark.browser
def test_docs_page_renders_the_operations_without_csp_violations(
    live_server, settings, chromium_page
) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    page = chromium_page
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.get_by_text("/api/v1/password-reset/request").first.wait_for(timeout=10_000)
    assert page.get_by_text("Read the mail server settings").count() >= 1
    # Opening an operation renders its schemas and examples, which must not need inline styles.
    page.get_by_text("Save the mail server settings").first.click()
    page.get_by_text("Request body").first.wait_for(timeout=10_000)
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == []
