"""Who may call what: sessions with CSRF, personal API tokens, administrators and users."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import ApiToken, User
from autommate.accounts.tokens import api_token_revoke
from tests.api.conftest import API, ApiClient, assert_error, token_for

pytestmark = pytest.mark.django_db

# One safe and one unsafe operation of each administrators' router.
ADMIN_OPERATIONS = [
    ("get", "/mail-server"),
    ("put", "/mail-server"),
    ("post", "/mail-server/test"),
    ("post", "/mail-server/confirm"),
    ("get", "/forgot-password"),
    ("put", "/forgot-password"),
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/users/1"),
    ("patch", "/users/1"),
    ("post", "/users/1/deactivate"),
    ("get", "/mail-log"),
    ("get", "/audit-events"),
]
SIGNED_IN_OPERATIONS = [
    ("get", "/api-tokens"),
    ("post", "/api-tokens"),
    ("get", "/api-tokens/1"),
    ("delete", "/api-tokens/1"),
]


def call(api: ApiClient, method: str, path: str):
    if method in {"get", "delete"}:
        return getattr(api.client, method)(API + path, headers=api.headers)
    return getattr(api, method)(path, {})


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS + SIGNED_IN_OPERATIONS)
def test_anonymous_caller_gets_401(anonymous_api: ApiClient, method: str, path: str) -> None:
    response = call(anonymous_api, method, path)
    assert_error(response, HTTPStatus.UNAUTHORIZED, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
def test_user_token_without_administrator_rights_gets_403(
    user_api: ApiClient, method: str, path: str
) -> None:
    assert_error(call(user_api, method, path), HTTPStatus.FORBIDDEN, "permission_denied")


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
def test_user_session_without_administrator_rights_gets_403(
    user_client: Client, method: str, path: str
) -> None:
    response = call(ApiClient(user_client), method, path)
    assert_error(response, HTTPStatus.FORBIDDEN, "permission_denied")


@pytest.mark.parametrize("path", [path for method, path in ADMIN_OPERATIONS if method == "get"])
def test_administrator_token_reads_everything(admin_api: ApiClient, admin_user, path) -> None:
    assert admin_api.get(path.replace("/1", f"/{admin_user.pk}")).status_code == HTTPStatus.OK


def test_user_token_reads_but_cannot_make_tokens(user_api: ApiClient) -> None:
    assert user_api.get("/api-tokens").status_code == HTTPStatus.OK
    assert_error(
        user_api.post("/api-tokens", {"name": "ci"}), HTTPStatus.FORBIDDEN, "session_required"
    )


def test_administrator_session_reads_without_csrf_token(admin_client: Client) -> None:
    assert ApiClient(admin_client).get("/users").status_code == HTTPStatus.OK


def _csrf_session(user: User) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/account/tokens/")  # A page with a form sets the CSRF cookie.
    return client, client.cookies["csrftoken"].value


def test_session_write_without_csrf_token_gets_403(admin_user: User) -> None:
    client, _ = _csrf_session(admin_user)
    response = ApiClient(client).post("/api-tokens", {"name": "browser"})
    assert_error(response, HTTPStatus.FORBIDDEN, "csrf_failed")


def test_session_write_with_csrf_token_succeeds(admin_user: User) -> None:
    client, token = _csrf_session(admin_user)
    response = ApiClient(client).post(
        "/api-tokens", {"name": "browser"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == HTTPStatus.CREATED


def test_token_write_needs_no_csrf_token(admin_user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = ApiClient(client, token_for(admin_user)).patch(
        f"/users/{admin_user.pk}", {"full_name": "Ada A. Admin"}
    )
    assert response.status_code == HTTPStatus.OK, response.content


def test_deactivated_users_session_is_not_signed_in(user_client: Client, regular_user) -> None:
    User.objects.filter(pk=regular_user.pk).update(is_active=False)
    assert_error(
        ApiClient(user_client).get("/api-tokens"), HTTPStatus.UNAUTHORIZED, "not_authenticated"
    )


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Bearer amt_short",
        "Basic YWRtaW46cGFzcw==",
        "Token amt_" + "a" * 43,
        "amt_" + "a" * 43,
    ],
)
def test_malformed_token_gets_401(admin_user: User, header: str) -> None:
    response = Client().get(API + "/users", headers={"Authorization": header})
    assert_error(response, HTTPStatus.UNAUTHORIZED, "invalid_token")


def test_unknown_token_gets_401(db) -> None:
    response = ApiClient(token="amt_" + "A" * 43).get("/api-tokens")
    body = assert_error(response, HTTPStatus.UNAUTHORIZED, "invalid_token")
    assert "not valid" in body["message"]


def test_revoked_token_gets_401(admin_user: User) -> None:
    secret = token_for(admin_user)
    api_token_revoke(token=ApiToken.objects.get(), actor=admin_user)
    body = assert_error(
        ApiClient(token=secret).get("/users"), HTTPStatus.UNAUTHORIZED, "invalid_token"
    )
    assert "revoked" in body["message"]


def test_expired_token_gets_401(admin_user: User) -> None:
    secret = token_for(admin_user, expires_in=timedelta(hours=1))
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    body = assert_error(
        ApiClient(token=secret).get("/users"), HTTPStatus.UNAUTHORIZED, "invalid_token"
    )
    assert "expired" in body["message"]


def test_token_of_a_deactivated_user_gets_401(regular_user: User, user_token: str) -> None:
    User.objects.filter(pk=regular_user.pk).update(is_active=False)
    assert_error(
        ApiClient(token=user_token).get("/api-tokens"), HTTPStatus.UNAUTHORIZED, "invalid_token"
    )


def test_token_loses_administrator_rights_with_its_user(
    admin_user: User, admin_api: ApiClient
) -> None:
    assert admin_api.get("/users").status_code == HTTPStatus.OK
    User.objects.create_superuser("other-admin@example.org", "another long passphrase here")
    User.objects.filter(pk=admin_user.pk).update(role="user")
    assert_error(admin_api.get("/users"), HTTPStatus.FORBIDDEN, "permission_denied")


def test_bad_token_is_refused_even_with_a_valid_session(admin_client: Client) -> None:
    response = admin_client.get(API + "/users", headers={"Authorization": "Bearer nope"})
    assert_error(response, HTTPStatus.UNAUTHORIZED, "invalid_token")


def test_token_is_used_rather_than_the_session(user_client: Client, admin_token: str) -> None:
    response = ApiClient(user_client, admin_token).get("/users")
    assert response.status_code == HTTPStatus.OK


def test_use_of_a_token_is_recorded(admin_user: User, admin_api: ApiClient) -> None:
    assert ApiToken.objects.get().last_used_at is None
    admin_api.get("/users")
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/password-reset/request", {"email": "mike@example.org"}),
        ("/password-reset/confirm", {"token": "x", "new_password": "y"}),
    ],
)
def test_reset_calls_need_nobody_signed_in(anonymous_api: ApiClient, path: str, body) -> None:
    response = anonymous_api.post(path, body)
    assert response.status_code not in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}


def test_openapi_document_and_docs_page_are_public(anonymous_api: ApiClient) -> None:
    assert anonymous_api.get("/openapi.json").status_code == HTTPStatus.OK
    assert anonymous_api.get("/docs").status_code == HTTPStatus.OK
