"""A user's Language in the API: `language`, null (or empty) for automatic."""

from __future__ import annotations

from http import HTTPStatus
from typing import get_args

import pytest
from django.conf import settings

from autommate.accounts.models import User
from autommate.accounts.schemas import LanguageChoice, LanguageName
from tests.api.conftest import ApiClient, assert_error


def test_the_api_shows_an_automatic_language_as_null(
    admin_api: ApiClient, regular_user: User
) -> None:
    body = admin_api.get(f"/users/{regular_user.pk}").json()

    assert body["language"] is None


def test_the_api_adds_a_user_with_a_language(admin_api: ApiClient) -> None:
    response = admin_api.post(
        "/users", {"email": "nina@example.org", "language": "de", "send_invitation": False}
    )

    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()["language"] == "de"
    assert User.objects.get(email="nina@example.org").language == "de"


def test_the_api_changes_a_language_and_null_makes_it_automatic(
    admin_api: ApiClient, regular_user: User
) -> None:
    path = f"/users/{regular_user.pk}"

    assert admin_api.patch(path, {"language": "tr"}).json()["language"] == "tr"
    assert admin_api.patch(path, {"full_name": "Mike"}).json()["language"] == "tr"
    assert admin_api.patch(path, {"language": None}).json()["language"] is None
    assert admin_api.patch(path, {"language": "de"}).json()["language"] == "de"
    assert admin_api.patch(path, {"language": ""}).json()["language"] is None
    regular_user.refresh_from_db()
    assert regular_user.language == ""


@pytest.mark.parametrize("value", ["fr", "DE", "de-DE", 7])
def test_the_api_refuses_a_language_it_does_not_have(
    admin_api: ApiClient, regular_user: User, value: object
) -> None:
    response = admin_api.patch(f"/users/{regular_user.pk}", {"language": value})

    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["language"]
    regular_user.refresh_from_db()
    assert regular_user.language == ""


def test_the_openapi_document_lists_the_languages(admin_api: ApiClient) -> None:
    schemas = admin_api.get("/openapi.json").json()["components"]["schemas"]

    language = schemas["UserOut"]["properties"]["language"]
    assert {"enum": ["en", "de", "tr"], "type": "string"} in language["anyOf"]


def test_the_api_knows_exactly_the_installations_languages() -> None:
    codes = tuple(code for code, _name in settings.LANGUAGES)

    assert get_args(LanguageName) == codes
    assert get_args(LanguageChoice) == ("", *codes)
