"""Point 8: opening a reset link neither uses it up nor leaks its token anywhere.

Mail scanners open every link (GET and HEAD), so opening must not consume the link; the token
moves into the session at once, as Django's PasswordResetConfirmView does, so that it cannot leak
through the Referer header, the history or a cache. OWASP Forgot Password Cheat Sheet, "URL
tokens" (Referrer-Policy, no third-party resources on the reset page); ASVS 5.0 V3.4 (security
headers), V14.3 (no sensitive data cached), V16.2 (no secrets in logs).
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.recovery.models import ResetLink
from tests.conftest import USER_PASSWORD

from .conftest import (
    NEW_PASSWORD,
    Browser,
    Mailbox,
    WebServer,
    choose_password,
    open_link,
    path_of,
    request_link,
    request_reset,
    reset_link,
    token_of,
)

pytestmark = pytest.mark.django_db

REFERRER_POLICIES = {"same-origin", "no-referrer"}
# Elements whose URL the browser loads (or submits to) without the user choosing to follow it.
LOADING_ATTRIBUTES = {
    "script": "src",
    "link": "href",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "video": "src",
    "audio": "src",
    "embed": "src",
    "object": "data",
    "form": "action",
    "input": "formaction",
    "button": "formaction",
}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline_scripts = 0
        self.refreshes = 0
        self.forms: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in LOADING_ATTRIBUTES and values.get(LOADING_ATTRIBUTES[tag]):
            self.loads.append(str(values[LOADING_ATTRIBUTES[tag]]))
        if tag == "script" and not values.get("src") and values.get("type") != "application/json":
            self.inline_scripts += 1
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.refreshes += 1
        if tag == "form":
            self.forms.append(values)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.inline_scripts += 1


def parse(response) -> _Page:
    page = _Page()
    page.feed(response.content.decode())
    return page


def assert_private(response) -> None:
    assert response["Referrer-Policy"] in REFERRER_POLICIES, response.get("Referrer-Policy")
    assert "no-store" in response["Cache-Control"]


def assert_same_origin_only(response) -> None:
    page = parse(response)
    for url in page.loads:
        assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.IGNORECASE), url
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "*" not in policy
    assert "http" not in policy


def test_get_and_head_never_use_the_link_up(mailbox: Mailbox, regular_user: User) -> None:
    link = request_link(Client(), mailbox, regular_user.email)

    for _ in range(2):
        scanner = Client()
        assert scanner.head(path_of(link)).status_code == HTTPStatus.FOUND
        assert scanner.head("/reset-password/").status_code == HTTPStatus.OK
        open_link(scanner, link)
        assert scanner.get("/reset-password/").status_code == HTTPStatus.OK

    assert ResetLink.objects.get().used_at is None
    regular_user.refresh_from_db()
    assert regular_user.check_password(USER_PASSWORD)
    owner = Client()
    open_link(owner, link)
    assert choose_password(owner).status_code == HTTPStatus.FOUND


def test_first_get_moves_the_token_into_the_session_and_redirects_without_it(
    mailbox: Mailbox, regular_user: User
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    client = Client()

    opened = open_link(client, link)

    assert token_of(link) not in opened["Location"]
    assert client.get("/reset-password/").status_code == HTTPStatus.OK
    assert Client().get("/reset-password/").status_code == HTTPStatus.NOT_FOUND


def test_reset_page_never_submits_itself(mailbox: Mailbox, regular_user: User) -> None:
    client = Client()
    open_link(client, request_link(Client(), mailbox, regular_user.email))

    page = parse(client.get("/reset-password/"))

    assert page.inline_scripts == 0
    assert page.refreshes == 0
    # The password form and the language switcher: both only on a press of their button.
    assert [form.get("method") for form in page.forms] == ["post", "post"]
    assert "script-src 'self'" in client.get("/reset-password/")["Content-Security-Policy"]


def test_every_reset_page_is_private_and_same_origin_only(
    mailbox: Mailbox, regular_user: User, settings
) -> None:
    client = Client()
    responses = [client.get("/forgot-password/"), request_reset(client, regular_user.email)]
    link = reset_link(mailbox.deliver_one())
    responses.append(client.get(path_of(link)))
    responses.append(client.get("/reset-password/"))
    responses.append(choose_password(client, "short"))
    responses.append(choose_password(client))
    responses.append(client.get(path_of(link)))  # used: the invalid-link page
    responses.append(Client().get("/reset-password/"))
    settings.LIMIT_RESET_LINK_FAILURES = "1/h"
    responses.append(client.get(path_of(link)))  # throttled

    statuses = [r.status_code for r in responses]
    assert statuses == [200, 302, 302, 200, 400, 302, 404, 404, 429]
    for response in responses:
        assert_private(response)
        if response.status_code != HTTPStatus.FOUND:
            assert_same_origin_only(response)


def test_stylesheet_loads_nothing_from_another_origin(client: Client) -> None:
    page = parse(client.get("/login/"))
    (stylesheet,) = [url for url in page.loads if url.endswith(".css")]
    css = b"".join(client.get(stylesheet).streaming_content).decode()  # type: ignore[attr-defined]
    for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css) + re.findall(
        r"@import\s+['\"]?([^'\";]+)", css
    ):
        assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.IGNORECASE) or url.startswith(
            "data:"
        ), url


def test_token_is_in_no_response_and_no_log_line(
    mailbox: Mailbox, regular_user: User, caplog, every_log_line: io.StringIO, settings
) -> None:
    client = Client()
    responses: list[Any] = [request_reset(client, regular_user.email)]
    link = reset_link(mailbox.deliver_one())
    token = token_of(link)
    responses.append(client.head(path_of(link)))
    responses.append(client.get(path_of(link)))
    responses.append(client.get("/reset-password/"))
    responses.append(choose_password(client, "short"))
    responses.append(choose_password(client, "1q2w3e4r5t6y7u8i", HTTP_REFERER=link))
    responses.append(choose_password(client, NEW_PASSWORD, HTTP_REFERER=link))
    responses.append(client.get("/login/"))
    mailbox.deliver_one()  # the password-changed notice
    responses.append(Client().get(path_of(link)))  # used now
    settings.LIMIT_RESET_LINK_FAILURES = "1/h"
    responses.append(Client().get(path_of(link)))  # and throttled

    assert [r.status_code for r in responses] == [302, 302, 302, 200, 400, 400, 302, 200, 404, 429]
    for response in responses:
        assert token not in response.content.decode()
        assert token not in repr(response.items())
        assert token not in response.cookies.output()
    assert caplog.records, "nothing was logged: the capture is not working"
    assert token not in caplog.text
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in (record.exc_text or "")
    written = every_log_line.getvalue()
    assert "Not Found: /reset-password/" in written  # the request logger was captured too
    assert token not in written


@pytest.mark.slow
def test_token_is_in_no_line_the_web_server_logs(
    web_server: WebServer, forgot_password_on, regular_user: User, smtp_server, run_worker
) -> None:
    browser = Browser(web_server)
    sent, _ = browser.submit("/forgot-password/", {"email": regular_user.email})
    assert sent.status == HTTPStatus.FOUND
    run_worker()
    link = reset_link(smtp_server.wait_for(1)[0])
    token = token_of(link)

    opened, _ = browser.request("GET", path_of(link), headers={"Referer": link})
    assert opened.status == HTTPStatus.FOUND
    done, _ = browser.submit(
        "/reset-password/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        headers={"Referer": link},
    )
    assert done.status == HTTPStatus.FOUND
    again, _ = Browser(web_server).request("GET", path_of(link))
    assert again.status == HTTPStatus.NOT_FOUND

    log = web_server.log.read_text()
    assert path_of(link).replace(token, "") in log.replace("[redacted]", "")  # lines were written
    assert token not in log
