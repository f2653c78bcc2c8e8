"""A user's Language: on one's own account page, on a user's page, on Add user and in the API."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.conf import settings
from django.test import Client

from autommate.accounts.models import User
from autommate.audit.models import Action, AuditEvent


def language_select(page: str) -> str:
    match = re.search(r'<select name="language"[^>]*>(.*?)</select>', page, re.S)
    assert match, "no Language field"
    return match.group(1)


def test_the_account_page_offers_every_language_and_browser_language(
    user_client: Client,
) -> None:
    page = user_client.get("/account/").content.decode()

    assert re.search(r'<label for="id_language"[^>]*>Language</label>', page)
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', language_select(page))
    assert options == [("", "Browser language"), *settings.LANGUAGES]
    assert '<option value="" selected>Browser language</option>' in page


def test_a_user_chooses_their_language_and_the_next_page_is_in_it(
    regular_user: User, user_client: Client
) -> None:
    response = user_client.post(
        "/account/",
        {"form": "profile", "full_name": regular_user.full_name, "language": "tr"},
        headers={"accept-language": "de"},
    )

    assert response.status_code == HTTPStatus.FOUND
    # The answer to the change is in the new language already, its notice included.
    assert response["Content-Language"] == "tr"
    assert response.wsgi_request.LANGUAGE_CODE == "tr"
    regular_user.refresh_from_db()
    assert regular_user.language == "tr"
    page = user_client.get(response["Location"], headers={"accept-language": "de"})
    assert page["Content-Language"] == "tr"
    assert '<option value="tr" selected>Türkçe</option>' in page.content.decode()
    event = AuditEvent.objects.get(action=Action.USER_CHANGED)
    assert event.detail["fields"] == ["language"]
    assert event.actor == regular_user


def test_browser_language_makes_it_automatic_again(regular_user: User, user_client: Client) -> None:
    regular_user.language = "tr"
    regular_user.save(update_fields=["language"])

    user_client.post("/account/", {"form": "profile", "full_name": "", "language": ""})

    regular_user.refresh_from_db()
    assert regular_user.language == ""
    assert user_client.get("/account/", headers={"accept-language": "de"})["Content-Language"] == (
        "de"
    )


@pytest.mark.parametrize("value", ["fr", "tr-TR", "x" * 40, "de\n"])
def test_a_language_the_product_does_not_have_is_refused_and_nothing_changes(
    regular_user: User, user_client: Client, value: str
) -> None:
    response = user_client.post(
        "/account/", {"form": "profile", "full_name": "Someone Else", "language": value}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Select a valid choice." in response.content.decode()
    regular_user.refresh_from_db()
    assert (regular_user.language, regular_user.full_name) == ("", "Mike User")


def test_an_administrator_sets_a_users_language_on_their_page(
    admin_client: Client, regular_user: User
) -> None:
    page = admin_client.get(f"/users/{regular_user.pk}/").content.decode()
    assert "Browser language" in language_select(page)

    response = admin_client.post(
        f"/users/{regular_user.pk}/",
        {
            "email": regular_user.email,
            "full_name": regular_user.full_name,
            "role": "user",
            "is_active": "on",
            "language": "de",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    regular_user.refresh_from_db()
    assert regular_user.language == "de"
    event = AuditEvent.objects.get(action=Action.USER_CHANGED)
    assert event.detail["fields"] == ["language"]


def test_add_user_takes_a_language(admin_client: Client) -> None:
    page = admin_client.get("/users/add/").content.decode()
    assert "Browser language" in language_select(page)

    admin_client.post(
        "/users/add/",
        {
            "email": "nina@example.org",
            "role": "user",
            "is_active": "on",
            "password": "a long enough passphrase for nina",
            "language": "tr",
        },
    )

    assert User.objects.get(email="nina@example.org").language == "tr"
    assert AuditEvent.objects.get(action=Action.USER_CREATED).detail["language"] == "tr"
