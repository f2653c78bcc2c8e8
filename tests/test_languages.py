"""Which language each reader's pages are in: the user's own Language, else the switcher's cookie,
else the browser's Accept-Language, else English; and the switcher itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from autommate.accounts.models import User
from autommate.languages import datetime_in_words, mail_language
from tests.conftest import USER_PASSWORD

SWITCH = "/i18n/setlang/"


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]*)"', response.content.decode())
    assert match, "the page has no <html lang>"
    return match.group(1)


def assert_page_in(response, language: str) -> None:
    assert response["Content-Language"] == language
    assert html_lang(response) == language
    assert language == response.wsgi_request.LANGUAGE_CODE


@pytest.mark.django_db
def test_a_page_without_any_choice_is_english() -> None:
    response = Client().get("/login/")

    assert response.status_code == HTTPStatus.OK
    assert_page_in(response, "en")
    assert "Accept-Language" in response["Vary"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de"),
        ("tr", "tr"),
        ("fr-FR,fr;q=0.9", "en"),
        ("fr;q=0.9,tr;q=0.8", "tr"),
    ],
)
def test_an_anonymous_page_follows_accept_language(accept_language: str, language: str) -> None:
    response = Client().get("/login/", headers={"accept-language": accept_language})

    assert_page_in(response, language)


@pytest.mark.django_db
def test_the_language_cookie_wins_over_accept_language() -> None:
    browser = Client()
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "tr"

    response = browser.get("/forgot-password/", headers={"accept-language": "de"})

    assert_page_in(response, "tr")


def test_a_signed_in_users_own_language_wins_over_cookie_and_browser(
    regular_user: User, user_client: Client
) -> None:
    regular_user.language = "tr"
    regular_user.save(update_fields=["language"])
    user_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"

    response = user_client.get("/account/", headers={"accept-language": "de"})

    assert response.status_code == HTTPStatus.OK
    assert_page_in(response, "tr")


def test_a_signed_in_user_without_a_language_gets_the_browsers(user_client: Client) -> None:
    response = user_client.get("/account/", headers={"accept-language": "de"})

    assert_page_in(response, "de")


def test_an_api_call_with_a_session_follows_the_users_language(
    regular_user: User, user_client: Client
) -> None:
    regular_user.language = "de"
    regular_user.save(update_fields=["language"])

    response = user_client.get("/api/v1/api-tokens", headers={"accept-language": "tr"})

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Language"] == "de"


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["de", "tr"])
def test_an_api_error_message_follows_accept_language_and_its_code_stays(language: str) -> None:
    response = Client().post(
        "/api/v1/password-reset/request",
        {"email": "mike@example.org"},
        content_type="application/json",
        headers={"accept-language": language},
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Language"] == language
    body = response.json()
    assert body["code"] == "forgot_password_disabled"
    with translation.override(language):
        assert body["message"] == gettext(
            "Forgot Password is switched off. Ask an administrator to reset your password."
        )


@pytest.mark.django_db
def test_an_error_page_is_in_the_readers_language() -> None:
    response = Client().get("/no-such-page/", headers={"accept-language": "de"})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert_page_in(response, "de")


# -- The switcher ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "back"),
    [
        ("/login/?next=/users/", "/login/?next=/users/"),
        ("/forgot-password/", "/forgot-password/"),
        ("/reset-password/", "/reset-password/"),
        ("/invitation/", "/invitation/"),
        # A link's page never puts its token in a form: the same page without it.
        ("/reset-password/Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ/", "/reset-password/"),
        ("/invitation/Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ/", "/invitation/"),
        ("/nowhere/Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ/", "/"),
    ],
)
def test_anonymous_pages_have_the_switcher(path: str, back: str) -> None:
    page = Client().get(path).content.decode()

    form = re.search(r'<form class="language-switcher" method="post" action="([^"]+)">', page)
    assert form
    assert form.group(1) == SWITCH
    assert '<label for="language-switcher">Language</label>' in page
    assert '<select id="language-switcher" name="language">' in page
    for code, name in settings.LANGUAGES:
        assert f'<option value="{code}" lang="{code}"' in page
        assert f">{name}</option>" in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert f'name="next" value="{back}"' in page
    assert "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OQ" not in page


def test_signed_in_pages_have_no_switcher(user_client: Client) -> None:
    page = user_client.get("/account/").content.decode()

    assert "language-switcher" not in page


@pytest.mark.django_db
def test_the_switcher_remembers_the_choice_in_a_cookie_and_goes_back() -> None:
    browser = Client()

    response = browser.post(SWITCH, {"language": "de", "next": "/forgot-password/"})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/forgot-password/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "de"
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert_page_in(browser.get("/forgot-password/"), "de")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/login/",
        "//evil.example/login/",
        "/\\evil.example/login/",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
    ],
)
def test_the_switcher_never_sends_the_browser_to_another_site(target: str) -> None:
    response = Client().post(SWITCH, {"language": "tr", "next": target})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "tr"


@pytest.mark.django_db
def test_the_switcher_refuses_a_post_without_the_csrf_token() -> None:
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(SWITCH, {"language": "de", "next": "/login/"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


@pytest.mark.django_db
def test_the_switcher_works_with_the_token_of_the_page() -> None:
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login/").content.decode()
    token = re.search(
        r'class="language-switcher".*?name="csrfmiddlewaretoken" value="([^"]+)"', page, re.S
    )
    assert token

    response = browser.post(
        SWITCH, {"language": "de", "next": "/login/", "csrfmiddlewaretoken": token.group(1)}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"


@pytest.mark.django_db
def test_the_switcher_ignores_a_language_the_product_does_not_have() -> None:
    response = Client().post(SWITCH, {"language": "xx", "next": "/login/"})

    assert response.status_code == HTTPStatus.FOUND
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_the_switchers_choice_does_not_override_a_users_own_language(
    regular_user: User,
) -> None:
    regular_user.language = "tr"
    regular_user.save(update_fields=["language"])
    browser = Client()
    browser.post(SWITCH, {"language": "de", "next": "/login/"})
    assert_page_in(browser.get("/login/"), "de")

    browser.post("/login/", {"username": regular_user.email, "password": USER_PASSWORD})

    assert_page_in(browser.get("/account/"), "tr")


# -- The error pages rendered outside the middleware ----------------------------------------------


@pytest.mark.parametrize("template", ["rate_limited.html", "error.html"])
def test_pages_rendered_under_a_language_name_it(template: str) -> None:
    with translation.override("tr"):
        page = render_to_string(template, {"title": "x", "message": "y"})

    assert '<html lang="tr">' in page


# -- The rules as functions ----------------------------------------------------------------------


class Reader:
    def __init__(self, language: str) -> None:
        self.language = language


@pytest.mark.parametrize(
    ("own", "requested", "expected"),
    [
        ("tr", "de", "tr"),
        ("", "de", "de"),
        ("", "", "en"),
        ("", None, "en"),
        ("", "fr", "en"),
        ("xx", "de", "de"),
    ],
)
def test_a_mail_is_in_the_readers_language_else_the_requests_else_english(
    own: str, requested: str | None, expected: str
) -> None:
    assert mail_language(user=Reader(own), requested=requested) == expected


def test_a_mail_to_nobody_in_particular_is_in_the_installations_language() -> None:
    assert mail_language(user=None) == settings.LANGUAGE_CODE


@pytest.mark.parametrize(
    ("language", "zone", "expected"),
    [
        ("en", "UTC", "6 December 2026, 21:40 UTC"),
        ("de", "UTC", "6. Dezember 2026, 21:40 UTC"),
        ("tr", "UTC", "6 Aralık 2026, 21:40 UTC"),
        ("de", "Europe/Berlin", "6. Dezember 2026, 22:40 CET"),
        ("tr", "Europe/Istanbul", "7 Aralık 2026, 00:40 +03"),
    ],
)
def test_a_moment_is_written_in_the_readers_language_and_the_installations_zone(
    settings, language: str, zone: str, expected: str
) -> None:
    settings.TIME_ZONE = zone
    moment = datetime(2026, 12, 6, 21, 40, tzinfo=UTC)

    with translation.override(language):
        assert datetime_in_words(moment) == expected


def test_the_time_zone_is_read_from_the_environment(tmp_path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autommate.settings",
        "AUTOMMATE_VAR_DIR": str(tmp_path),
        "AUTOMMATE_TIME_ZONE": "Europe/Istanbul",
    }
    script = (
        "import django; from django.conf import settings; django.setup(); print(settings.TIME_ZONE)"
    )

    shown = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )

    assert shown.stdout.strip() == "Europe/Istanbul"


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["de", "tr"])
def test_the_switcher_names_each_language_in_itself(language: str) -> None:
    # A reader who landed on the wrong language must find their own by its own name.
    page = Client(headers={"accept-language": language}).get("/login/").content.decode()

    assert f'<html lang="{language}">' in page
    for code, name in (("en", "English"), ("de", "Deutsch"), ("tr", "Türkçe")):
        assert f'<option value="{code}" lang="{code}"' in page
        assert re.search(rf'lang="{code}"( selected)?>{name}</option>', page), code
