"""Turkish's dotted and dotless I (İ i, I ı) break neither address matching, nor the users
list's order, nor its search: on SQLite (whose lower() and LIKE know only ASCII) and
PostgreSQL alike, and whatever language is active."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import translation

from autommate.accounts import selectors, services
from autommate.accounts.backends import EmailBackend
from autommate.accounts.models import User, email_key, search_fold
from tests.api.conftest import ApiClient, token_for
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

NAMES = ["İsmail", "ısık", "Işık", "ismail", "hakan", "jale"]


@pytest.fixture
def people() -> dict[str, User]:
    return {
        name: User.objects.create_user(
            f"{name}@example.org", USER_PASSWORD, full_name=f"{name.upper()} Yılmaz"
        )
        for name in NAMES
    }


@pytest.mark.parametrize("language", ["en", "de", "tr"])
def test_email_key_is_the_same_whatever_language_is_active(language: str) -> None:
    with translation.override(language):
        keys = [email_key(f"{name}@Example.org") for name in ["İsmail", "ISMAIL", "ısık", "Işık"]]

    assert keys == [
        "i\u0307smail@example.org",
        "ismail@example.org",
        "ısık@example.org",
        "işık@example.org",
    ]


def test_addresses_that_differ_in_their_i_are_different_accounts(people) -> None:
    """Mail goes to the stored address: İsmail's key is not ismail's, so neither can take
    the other's reset mails, however a search folds them together."""
    with translation.override("tr"):
        assert User.objects.get_by_natural_key("ISMAIL@example.org") == people["ismail"]
        assert User.objects.get_by_natural_key("İSMAIL@example.org") == people["İsmail"]
        assert User.objects.get_by_natural_key("ıSıK@example.org") == people["ısık"]


def test_signing_in_under_turkish_matches_the_address_as_under_english(people) -> None:
    backend = EmailBackend()
    with translation.override("tr"):
        signed_in = backend.authenticate(
            None, username="ISMAIL@EXAMPLE.ORG", password=USER_PASSWORD
        )

    assert signed_in == people["ismail"]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("İsmail", "ismail"),
        ("ISMAIL", "ismail"),
        ("ısık", "isik"),
        ("Işık", "isik"),
        ("IŞIK", "isik"),
        ("Çağla Öztürk", "cagla ozturk"),
        ("Straße", "strasse"),
    ],
)
def test_search_fold(text: str, folded: str) -> None:
    assert search_fold(text) == folded


@pytest.mark.parametrize("language", ["en", "tr"])
def test_the_users_list_sorts_the_is_together(people, language: str) -> None:
    with translation.override(language):
        users = list(selectors.user_list())

    assert [user.email_search.partition("@")[0] for user in users] == [
        "hakan",
        "isik",
        "isik",
        "ismail",
        "ismail",
        "jale",
    ]
    assert {users[1].pk, users[2].pk} == {people["ısık"].pk, people["Işık"].pk}


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("ismail", {"İsmail", "ismail"}),
        ("İSMAİL", {"İsmail", "ismail"}),
        ("ISMAIL", {"İsmail", "ismail"}),
        ("İsmail@", {"İsmail", "ismail"}),
        ("ışık", {"ısık", "Işık"}),
        ("IŞIK", {"ısık", "Işık"}),
        ("isik", {"ısık", "Işık"}),
        ("HAKAN Y", {"hakan"}),
        ("yılmaz", set(NAMES)),
        ("YILMAZ", set(NAMES)),
        ("yilmaz", set(NAMES)),
        ("%", set()),
        ("_smail", set()),
    ],
)
def test_searching_the_users_list_ignores_case_and_the_dot_of_the_i(
    people, search: str, found: set[str]
) -> None:
    with translation.override("tr"):
        users = selectors.user_list(search=search)

    assert {user.email.partition("@")[0] for user in users} == found


def test_the_users_page_finds_them_under_a_turkish_browser(people, admin_client: Client) -> None:
    response = admin_client.get("/users/", {"q": "IŞIK"}, headers={"accept-language": "tr"})

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "ısık@example.org" in page
    assert "Işık@example.org" in page
    assert "ismail@example.org" not in page


def test_the_api_list_finds_them(people, admin_user: User) -> None:
    api = ApiClient(token=token_for(admin_user))
    api.headers["accept-language"] = "tr"

    body = api.get("/users", {"q": "ismail"}).json()

    assert {item["email"] for item in body["items"]} == {
        "İsmail@example.org",
        "ismail@example.org",
    }


def test_a_changed_name_or_address_is_found_by_its_new_spelling(people) -> None:
    user = people["hakan"]
    user.email = "İlker@example.org"
    user.full_name = "Işıl"
    user.save(update_fields=["email", "full_name"])

    assert list(selectors.user_list(search="ilker")) == [user]
    assert list(selectors.user_list(search="ISIL")) == [user]


def test_users_loaded_without_their_search_columns_get_them(people) -> None:
    User.objects.update(email_search="", full_name_search="")

    assert services.user_search_columns_refresh() == len(NAMES)

    assert {user.email for user in selectors.user_list(search="ISMAIL")} == {
        "İsmail@example.org",
        "ismail@example.org",
    }
    assert services.user_search_columns_refresh() == 0
