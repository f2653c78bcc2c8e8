"""Every page's error summary and the errors of each field, as the server renders them."""

from __future__ import annotations

import re

import pytest
from django.test import Client


@pytest.fixture
def empty_login(db, client: Client) -> str:
    return client.post("/login/", {"username": "", "password": ""}).content.decode()


def test_each_field_error_has_the_id_its_input_names(empty_login: str) -> None:
    email_input = re.search(r'<input[^>]*name="username"[^>]*>', empty_login)
    assert email_input is not None
    assert 'aria-invalid="true"' in email_input.group()
    assert 'aria-describedby="id_username_error"' in email_input.group()
    error = re.search(r'<div class="error" id="id_username_error">(.*?)</div>', empty_login, re.S)
    assert error is not None
    assert "This field is required." in error.group(1)


def test_error_summary_links_to_each_field_and_the_title_says_error(empty_login: str) -> None:
    assert re.search(r"<title>Error: Log in · Autom Mate</title>", empty_login)
    summary = empty_login.split("data-error-summary>", 1)[1].split("</div>", 1)[0]
    assert "There is a problem" in summary
    assert '<a href="#id_username">Email: This field is required.</a>' in summary
    assert '<a href="#id_password">Password: This field is required.</a>' in summary
    # The summary comes first in <main>, before the page's heading.
    main = empty_login.split("<main", 1)[1]
    assert main.index("data-error-summary") < main.index("<h1>")


def test_an_error_of_the_whole_form_links_to_its_first_field(admin_user, client: Client) -> None:
    html = client.post(
        "/login/", {"username": admin_user.email, "password": "not the password at all"}
    ).content.decode()

    summary = html.split("data-error-summary>", 1)[1].split("</div>", 1)[0]
    assert re.search(r'<a href="#id_username">[^<]+</a>', summary)


def test_a_page_without_errors_has_no_summary(db, client: Client) -> None:
    html = client.get("/login/").content.decode()

    assert "<title>Log in · Autom Mate</title>" in html
    assert "data-error-summary" not in html
    assert html.index('class="skip-link" href="#main"') < html.index("<header")


def test_a_wrong_confirmation_code_is_summarised_at_the_top_of_the_mail_server_page(
    admin_client: Client,
) -> None:
    html = admin_client.post("/settings/mail/confirm/", {"code": "ABCD-EFGH"}).content.decode()

    main = html.split("<main", 1)[1]
    summary = main.split("data-error-summary>", 1)[1].split("</div>", 1)[0]
    assert re.search(r'<a href="#id_code">Confirmation code: [^<]+</a>', summary)
    assert main.index("data-error-summary") < main.index("<h1>")
    assert "<title>Error: Mail server · Autom Mate</title>" in html
