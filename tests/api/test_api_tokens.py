"""Personal API tokens: the caller's own, through the API and on /account/tokens/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import ApiToken, User
from autommate.accounts.tokens import api_token_create, api_tokens_revoke_all
from autommate.audit.models import Action, AuditEvent
from tests.api.conftest import ApiClient, assert_error, token_for

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"amt_[A-Za-z0-9_-]{43}")


@pytest.fixture
def user_session(user_client: Client) -> ApiClient:
    """The API as the signed-in user's browser calls it: tokens are made and revoked so."""
    return ApiClient(user_client)


def test_created_token_shows_its_secret_once_and_works(
    user_session: ApiClient, user_api: ApiClient
) -> None:
    response = user_session.post("/api-tokens", {"name": "  deploy pipeline  "})
    assert response.status_code == HTTPStatus.CREATED, response.content
    created = response.json()
    secret = created["secret"]
    assert SECRET.fullmatch(secret)
    assert created["token"]["name"] == "deploy pipeline"
    assert created["token"]["hint"] == secret[:8] + "…"
    assert created["token"]["expires_at"] is None
    assert created["token"]["active"] is True

    listing = user_api.get("/api-tokens")
    assert secret not in listing.content.decode()
    assert secret not in user_api.get(f"/api-tokens/{created['token']['id']}").content.decode()
    assert ApiClient(token=secret).get("/api-tokens").status_code == HTTPStatus.OK
    # Only a hash is stored.
    assert not ApiToken.objects.filter(secret_hash__contains=secret[4:]).exists()
    assert (
        secret
        not in AuditEvent.objects.get(
            action=Action.API_TOKEN_CREATED, detail__name="deploy pipeline"
        ).detail.values()
    )


def test_token_with_expiry(user_session: ApiClient) -> None:
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    body = user_session.post(
        "/api-tokens", {"name": "ci", "expires_at": expires.isoformat()}
    ).json()
    assert datetime.fromisoformat(body["token"]["expires_at"]) == expires


def test_expiry_without_zone_is_utc(user_session: ApiClient) -> None:
    body = user_session.post(
        "/api-tokens", {"name": "ci", "expires_at": "2099-01-01T00:00:00"}
    ).json()
    assert datetime.fromisoformat(body["token"]["expires_at"]) == datetime(2099, 1, 1, tzinfo=UTC)


def test_expiry_with_any_offset_is_kept_in_utc(user_session: ApiClient) -> None:
    body = user_session.post(
        "/api-tokens", {"name": "ci", "expires_at": "2099-01-01T00:00:00-22:31"}
    ).json()
    assert datetime.fromisoformat(body["token"]["expires_at"]) == datetime(
        2099, 1, 1, 22, 31, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ci", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "ci", "expires_at": "next week"}, "expires_at"),
        ({"name": "ci", "expires_at": "9999-12-31T23:00:00-10:00"}, "expires_at"),
        ({}, "name"),
    ],
)
def test_invalid_token_fields_are_400(user_session: ApiClient, body, field) -> None:
    error = assert_error(
        user_session.post("/api-tokens", body), HTTPStatus.BAD_REQUEST, "validation_failed"
    )
    assert list(error["fields"]) == [field]


def test_list_shows_only_own_tokens(
    user_api: ApiClient, admin_user: User, regular_user: User
) -> None:
    token_for(admin_user)
    items = user_api.get("/api-tokens").json()["items"]
    assert len(items) == 1
    assert ApiToken.objects.get(pk=items[0]["id"]).user == regular_user


def test_other_users_token_is_not_found(
    user_session: ApiClient, user_api: ApiClient, admin_user: User
) -> None:
    token_for(admin_user)
    other = ApiToken.objects.get(user=admin_user)
    assert_error(user_api.get(f"/api-tokens/{other.pk}"), HTTPStatus.NOT_FOUND, "not_found")
    assert_error(user_session.delete(f"/api-tokens/{other.pk}"), HTTPStatus.NOT_FOUND, "not_found")
    other.refresh_from_db()
    assert other.revoked_at is None


def test_revoke_own_token(user_session: ApiClient, user_api: ApiClient, regular_user: User) -> None:
    token, secret = api_token_create(user=regular_user, name="old laptop", expires_at=None)
    response = user_session.delete(f"/api-tokens/{token.pk}")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert_error(
        ApiClient(token=secret).get("/api-tokens"), HTTPStatus.UNAUTHORIZED, "invalid_token"
    )
    body = user_api.get(f"/api-tokens/{token.pk}").json()
    assert body["active"] is False
    assert body["revoked_at"] is not None
    # Revoking again changes nothing.
    assert user_session.delete(f"/api-tokens/{token.pk}").status_code == HTTPStatus.NO_CONTENT
    assert AuditEvent.objects.filter(action=Action.API_TOKEN_REVOKED).count() == 1


def test_a_token_cannot_revoke_tokens_not_even_itself(regular_user: User) -> None:
    token, secret = api_token_create(user=regular_user, name="self", expires_at=None)
    api = ApiClient(token=secret)
    body = assert_error(
        api.delete(f"/api-tokens/{token.pk}"), HTTPStatus.FORBIDDEN, "session_required"
    )
    assert "/account/tokens/" in body["message"]
    assert api.get("/api-tokens").status_code == HTTPStatus.OK


def test_a_token_cannot_create_tokens(user_api: ApiClient) -> None:
    assert_error(
        user_api.post("/api-tokens", {"name": "child"}), HTTPStatus.FORBIDDEN, "session_required"
    )
    assert ApiToken.objects.count() == 1


def test_revoke_all_leaves_other_users_alone(regular_user: User, admin_user: User) -> None:
    token_for(regular_user)
    token_for(regular_user)
    admin_secret = token_for(admin_user)
    assert api_tokens_revoke_all(user=regular_user) == 2
    assert ApiClient(token=admin_secret).get("/users").status_code == HTTPStatus.OK


def test_a_user_has_at_most_a_hundred_active_tokens(user_session: ApiClient, regular_user) -> None:
    for index in range(100):
        api_token_create(user=regular_user, name=f"t{index}", expires_at=None)
    body = assert_error(
        user_session.post("/api-tokens", {"name": "one more"}),
        HTTPStatus.BAD_REQUEST,
        "validation_failed",
    )
    assert "Revoke one" in body["message"]


# -- The page ----------------------------------------------------------------------------------


def test_tokens_page_needs_sign_in(client: Client) -> None:
    response = client.get("/account/tokens/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/login/")


def test_tokens_page_has_its_labels_and_a_link_in_the_menu(user_client: Client) -> None:
    page = user_client.get("/account/tokens/").content.decode()
    assert page.count("<h1>") == 1
    assert ">Name</label>" in page
    assert ">Expires</label>" in page
    assert ">Create token</button>" in page
    assert 'href="/account/tokens/" aria-current="page">API tokens</a>' in page
    assert 'href="/account/">Your account</a>' in page
    assert "You have no API tokens." in page


def test_page_creates_a_token_and_shows_the_secret_once(user_client: Client, regular_user) -> None:
    day = (timezone.now() + timedelta(days=10)).date()
    response = user_client.post(
        "/account/tokens/", {"name": "backup script", "expires": day.isoformat()}
    )
    assert response.status_code == HTTPStatus.OK
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    (secret,) = set(SECRET.findall(page))
    assert 'role="status"' in page
    assert "shown only this once" in page
    token = ApiToken.objects.get()
    assert token.expires_at == datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    assert ApiClient(token=secret).get("/api-tokens").status_code == HTTPStatus.OK

    later = user_client.get("/account/tokens/").content.decode()
    assert secret not in later
    assert "backup script" in later
    assert '>Revoke<span class="visually-hidden"> backup script</span></button>' in later


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "ci", "expires": "2001-01-01"}, "Choose a day after today"),
        ({"name": "ci", "expires": "soon"}, "Enter a valid date."),
    ],
)
def test_page_refuses_invalid_input(user_client: Client, data, message: str) -> None:
    response = user_client.post("/account/tokens/", data)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_page_revokes_a_token(user_client: Client, regular_user: User) -> None:
    token, secret = api_token_create(user=regular_user, name="old", expires_at=None)
    response = user_client.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert "Token old has been revoked." in response.content.decode()
    assert "Revoked" in response.content.decode()
    assert_error(
        ApiClient(token=secret).get("/api-tokens"), HTTPStatus.UNAUTHORIZED, "invalid_token"
    )


def test_page_cannot_revoke_someone_elses_token(user_client: Client, admin_user: User) -> None:
    token, _ = api_token_create(user=admin_user, name="admin's", expires_at=None)
    assert (
        user_client.post(f"/account/tokens/{token.pk}/revoke/").status_code == HTTPStatus.NOT_FOUND
    )
    token.refresh_from_db()
    assert token.revoked_at is None


def test_page_revoke_needs_post(user_client: Client, regular_user: User) -> None:
    token, _ = api_token_create(user=regular_user, name="old", expires_at=None)
    assert (
        user_client.get(f"/account/tokens/{token.pk}/revoke/").status_code
        == HTTPStatus.METHOD_NOT_ALLOWED
    )
