"""Point 22: deactivating an account ends its sessions for good; API tokens cannot make tokens.

Deactivation is how an administrator shuts someone out (a lost laptop, a departure): a session
that merely pauses and comes back on reactivation would hand the account to whoever holds the
old cookie. A token that can make tokens would outlive its own revocation, since revoking the
parent leaves the children working. ASVS 5.0 V7.4.2 (terminate sessions when an account is
disabled), V7.4.5 (users can end sessions), V8.2 (authorization of token management); OWASP
Session Management Cheat Sheet.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import ApiToken, User
from autommate.accounts.tokens import api_token_create
from tests.api.conftest import ApiClient, token_for
from tests.conftest import USER_PASSWORD

from .conftest import signed_in

pytestmark = pytest.mark.django_db

SESSION_REQUIRED = "session_required"


def sign_in(user: User) -> Client:
    client = Client()
    response = client.post("/login/", {"username": user.email, "password": USER_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in(client)
    return client


def deactivate_on_the_page(admin_client: Client, user: User) -> None:
    response = admin_client.post(f"/users/{user.pk}/deactivate/")
    assert response.status_code == HTTPStatus.FOUND


def deactivate_in_the_api(admin_client: Client, user: User) -> None:
    response = ApiClient(admin_client).post(f"/users/{user.pk}/deactivate")
    assert response.status_code == HTTPStatus.OK, response.content


def untick_active_on_the_page(admin_client: Client, user: User) -> None:
    data = {"email": user.email, "full_name": user.full_name, "role": user.role}
    response = admin_client.post(f"/users/{user.pk}/", data)
    assert response.status_code == HTTPStatus.FOUND


def reactivate(admin_client: Client, user: User) -> None:
    data = {"email": user.email, "full_name": user.full_name, "role": user.role}
    response = admin_client.post(f"/users/{user.pk}/", data | {"is_active": "on"})
    assert response.status_code == HTTPStatus.FOUND
    assert User.objects.get(pk=user.pk).is_active


@pytest.mark.parametrize(
    "deactivate",
    [deactivate_on_the_page, deactivate_in_the_api, untick_active_on_the_page],
    ids=["deactivate-button", "api", "active-unticked"],
)
def test_deactivation_ends_every_session_and_reactivation_revives_none(
    admin_client: Client,
    regular_user: User,
    deactivate: Callable[[Client, User], None],
) -> None:
    laptop, phone = sign_in(regular_user), sign_in(regular_user)

    deactivate(admin_client, regular_user)
    assert not signed_in(laptop)
    reactivate(admin_client, regular_user)

    assert not signed_in(phone)
    assert not signed_in(laptop)
    assert signed_in(sign_in(regular_user))  # Signing in anew works.
    assert signed_in(admin_client)  # Other accounts keep their sessions.


def test_deactivation_revokes_no_api_token(admin_client: Client, regular_user: User) -> None:
    secret = token_for(regular_user)

    deactivate_on_the_page(admin_client, regular_user)
    refused = ApiClient(token=secret).get("/api-tokens")
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert "deactivated" in refused.json()["message"]
    reactivate(admin_client, regular_user)

    # Tokens are listed where their owner sees and revokes them; nothing revokes them behind it.
    assert ApiToken.objects.get().revoked_at is None
    assert ApiClient(token=secret).get("/api-tokens").status_code == HTTPStatus.OK


def test_an_api_token_can_neither_create_nor_revoke_tokens(regular_user: User) -> None:
    parent, parent_secret = api_token_create(user=regular_user, name="parent", expires_at=None)
    other, _ = api_token_create(user=regular_user, name="other", expires_at=None)
    with_token = ApiClient(token=parent_secret)

    created = with_token.post("/api-tokens", {"name": "child"})
    assert created.status_code == HTTPStatus.FORBIDDEN
    assert created.json()["code"] == SESSION_REQUIRED
    assert "logged-in session" in created.json()["message"]
    for token in (other, parent):
        revoked = with_token.delete(f"/api-tokens/{token.pk}")
        assert revoked.status_code == HTTPStatus.FORBIDDEN
        assert revoked.json()["code"] == SESSION_REQUIRED

    assert ApiToken.objects.count() == 2
    assert not ApiToken.objects.exclude(revoked_at=None).exists()
    # Reading stays open to tokens.
    assert with_token.get("/api-tokens").status_code == HTTPStatus.OK


def test_a_signed_in_session_with_its_csrf_token_creates_and_revokes_tokens(
    regular_user: User,
) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(regular_user)
    browser.get("/account/tokens/")  # A page with a form sets the CSRF cookie.
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"].value}
    session = ApiClient(browser)

    created = session.post("/api-tokens", {"name": "ci"}, headers=csrf)
    assert created.status_code == HTTPStatus.CREATED, created.content
    token_id = created.json()["token"]["id"]
    # A request that sends a token besides the session is refused: the token is the caller.
    mixed = ApiClient(browser, token=created.json()["secret"])
    refused = mixed.post("/api-tokens", {"name": "x"}, headers=csrf)
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == SESSION_REQUIRED
    without_csrf = session.delete(f"/api-tokens/{token_id}")
    assert without_csrf.status_code == HTTPStatus.FORBIDDEN
    assert without_csrf.json()["code"] == "csrf_failed"

    revoked = session.delete(f"/api-tokens/{token_id}", headers=csrf)

    assert revoked.status_code == HTTPStatus.NO_CONTENT
    assert ApiToken.objects.get().revoked_at is not None
