"""Forgot Password's two public calls: ask for a reset email, set the new password."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.recovery.models import ResetLink, ResetRequest
from autommate.recovery.services import SENT_MESSAGE, link_issue
from tests.api.conftest import API, ApiClient, assert_error
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase for mike"


def issue_link(user: User) -> str:
    return link_issue(user=user, expires_at=timezone.now() + timedelta(hours=1))


def test_request_while_off_is_404(anonymous_api: ApiClient, regular_user) -> None:
    response = anonymous_api.post("/password-reset/request", {"email": regular_user.email})
    body = assert_error(response, HTTPStatus.NOT_FOUND, "forgot_password_disabled")
    assert "switched off" in body["message"]
    assert not ResetRequest.objects.exists()


@pytest.mark.parametrize("address", ["mike@example.org", "Mike@Example.org", "nobody@example.org"])
def test_request_is_202_whether_or_not_the_address_has_an_account(
    anonymous_api: ApiClient, forgot_password_on, regular_user, smtp_server, address: str
) -> None:
    response = anonymous_api.post("/password-reset/request", {"email": address})
    assert response.status_code == HTTPStatus.ACCEPTED
    assert response.json() == {"message": SENT_MESSAGE}
    assert smtp_server.messages == []  # Nothing is looked up or sent in the request.
    assert ResetRequest.objects.count() == 1


@pytest.mark.parametrize(
    "email",
    [
        ["mike@example.org"],
        ["mike@example.org", "other@example.org"],
        "mike@example.org,other@example.org",
        "mike@example.org;other@example.org",
        "mike@example.org\r\nBcc: other@example.org",
        "mike@example.org\n",
        "not an address",
        "",
        42,
        None,
        {"address": "mike@example.org"},
    ],
)
def test_request_takes_exactly_one_address(
    anonymous_api: ApiClient, forgot_password_on, email
) -> None:
    response = anonymous_api.post("/password-reset/request", {"email": email})
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["email"]
    assert not ResetRequest.objects.exists()


def test_request_without_email_is_400(anonymous_api: ApiClient, forgot_password_on) -> None:
    body = assert_error(
        anonymous_api.post("/password-reset/request", {}),
        HTTPStatus.BAD_REQUEST,
        "validation_failed",
    )
    assert list(body["fields"]) == ["email"]


def test_too_many_requests_for_an_address_get_429_with_retry_after(
    anonymous_api: ApiClient, forgot_password_on, settings
) -> None:
    settings.LIMIT_RESET_PER_ADDRESS = "2/h"
    for _ in range(2):
        response = anonymous_api.post("/password-reset/request", {"email": "mike@example.org"})
        assert response.status_code == HTTPStatus.ACCEPTED
    response = anonymous_api.post("/password-reset/request", {"email": "MIKE@example.org"})
    body = assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "rate_limited")
    assert "Try again in" in body["message"]
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_too_many_requests_from_a_client_get_429(
    anonymous_api: ApiClient, forgot_password_on, settings
) -> None:
    settings.LIMIT_RESET_PER_CLIENT = "1/h"
    anonymous_api.post("/password-reset/request", {"email": "a@example.org"})
    response = anonymous_api.post("/password-reset/request", {"email": "b@example.org"})
    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "rate_limited")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.usefixtures("forgot_password_on")
def test_confirm_sets_the_new_password_and_revokes_tokens(
    anonymous_api: ApiClient, regular_user: User, user_token: str
) -> None:
    token = issue_link(regular_user)
    response = anonymous_api.post(
        "/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == HTTPStatus.NO_CONTENT, response.content
    assert response.content == b""
    client = Client()
    assert client.login(username="mike@example.org", password=NEW_PASSWORD)
    assert not client.login(username="mike@example.org", password=USER_PASSWORD)
    assert ResetLink.objects.get().used_at is not None
    # Every API token of the account stops working with the reset.
    assert_error(
        ApiClient(token=user_token).get("/api-tokens"), HTTPStatus.UNAUTHORIZED, "invalid_token"
    )


@pytest.mark.usefixtures("forgot_password_on")
def test_confirm_lists_every_policy_message(anonymous_api: ApiClient, regular_user: User) -> None:
    token = issue_link(regular_user)
    response = anonymous_api.post(
        "/password-reset/confirm", {"token": token, "new_password": "password"}
    )
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    messages = body["fields"]["new_password"]
    assert any("too short" in message for message in messages)
    assert any("too common" in message for message in messages)
    # A refused password does not use the link up.
    assert ResetLink.objects.get().used_at is None


@pytest.mark.usefixtures("forgot_password_on")
def test_confirm_refuses_an_overlong_password(anonymous_api: ApiClient, regular_user, settings):
    token = issue_link(regular_user)
    password = "x" * (settings.PASSWORD_MAX_LENGTH + 1)
    response = anonymous_api.post(
        "/password-reset/confirm", {"token": token, "new_password": password}
    )
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert any("too long" in message for message in body["fields"]["new_password"])


@pytest.mark.usefixtures("forgot_password_on")
@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 500])
def test_confirm_with_an_unknown_token_is_400(anonymous_api: ApiClient, token: str) -> None:
    response = anonymous_api.post(
        "/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_reset_link")


@pytest.mark.usefixtures("forgot_password_on")
def test_a_token_works_once(anonymous_api: ApiClient, regular_user: User) -> None:
    token = issue_link(regular_user)
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert anonymous_api.post("/password-reset/confirm", body).status_code == HTTPStatus.NO_CONTENT
    again = anonymous_api.post(
        "/password-reset/confirm", {**body, "new_password": NEW_PASSWORD + "!"}
    )
    assert_error(again, HTTPStatus.BAD_REQUEST, "invalid_reset_link")


@pytest.mark.usefixtures("forgot_password_on")
def test_an_expired_token_is_400(anonymous_api: ApiClient, regular_user: User) -> None:
    token = issue_link(regular_user)
    ResetLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = anonymous_api.post(
        "/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_reset_link")


@pytest.mark.usefixtures("forgot_password_on")
def test_too_many_bad_tokens_get_429(anonymous_api: ApiClient, regular_user, settings) -> None:
    settings.LIMIT_RESET_LINK_FAILURES = "2/h"
    for _ in range(2):
        response = anonymous_api.post(
            "/password-reset/confirm", {"token": "guess", "new_password": NEW_PASSWORD}
        )
        assert response.status_code == HTTPStatus.BAD_REQUEST
    # Even a good token waits now: guessing must not go on.
    token = issue_link(regular_user)
    response = anonymous_api.post(
        "/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert_error(response, HTTPStatus.TOO_MANY_REQUESTS, "rate_limited")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.usefixtures("forgot_password_on")
def test_reset_calls_ignore_a_bad_authorization_header(regular_user: User) -> None:
    token = issue_link(regular_user)
    response = Client().post(
        API + "/password-reset/confirm",
        {"token": token, "new_password": NEW_PASSWORD},
        content_type="application/json",
        headers={"Authorization": "Bearer nonsense"},
    )
    assert response.status_code == HTTPStatus.NO_CONTENT
