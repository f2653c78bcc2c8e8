"""User management through the API: list, search, add, read, change, deactivate."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import Role, User
from autommate.audit.models import Action, AuditEvent
from tests.api.conftest import ApiClient, assert_error
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_users(db) -> list[User]:
    return [
        User.objects.create_user(f"user{index:02d}@example.org", full_name=f"Person {index}")
        for index in range(5)
    ]


def test_list_is_paged(admin_api: ApiClient, many_users) -> None:
    first = admin_api.get("/users", {"page_size": 3}).json()
    assert (first["count"], first["pages"], first["page"]) == (6, 2, 1)
    assert [user["email"] for user in first["items"]] == [
        "admin@example.org",
        "user00@example.org",
        "user01@example.org",
    ]
    second = admin_api.get("/users", {"page_size": 3, "page": 2}).json()
    assert len(second["items"]) == 3
    beyond = admin_api.get("/users", {"page_size": 3, "page": 9}).json()
    assert beyond["items"] == []
    assert beyond["count"] == 6


def test_list_searches_email_and_full_name(admin_api: ApiClient, many_users) -> None:
    assert [u["email"] for u in admin_api.get("/users", {"q": "USER03"}).json()["items"]] == [
        "user03@example.org"
    ]
    assert admin_api.get("/users", {"q": "person"}).json()["count"] == 5
    assert admin_api.get("/users", {"q": "nobody"}).json()["items"] == []


def test_list_filters_role_and_activity(admin_api: ApiClient, many_users) -> None:
    User.objects.filter(email="user01@example.org").update(is_active=False)
    admins = admin_api.get("/users", {"role": "admin"}).json()["items"]
    assert [u["email"] for u in admins] == ["admin@example.org"]
    inactive = admin_api.get("/users", {"is_active": "false"}).json()["items"]
    assert [u["email"] for u in inactive] == ["user01@example.org"]


def test_add_user_without_password(admin_api: ApiClient, admin_user: User) -> None:
    response = admin_api.post("/users", {"email": " New@Example.org ", "full_name": "New Person"})
    assert response.status_code == HTTPStatus.CREATED, response.content
    body = response.json()
    assert body["email"] == "New@Example.org"
    assert body["role"] == "user"
    assert body["is_active"] is True
    assert body["has_password"] is False
    assert "password" not in body
    event = AuditEvent.objects.get(action=Action.USER_CREATED)
    assert event.actor == admin_user
    assert event.target == "New@Example.org"


def test_add_administrator_with_password(admin_api: ApiClient) -> None:
    response = admin_api.post(
        "/users",
        {"email": "ops@example.org", "role": "admin", "password": "a long enough passphrase"},
    )
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["is_admin"] is True
    assert User.objects.get(email="ops@example.org").check_password("a long enough passphrase")


def test_add_user_with_weak_password_lists_the_policy(admin_api: ApiClient) -> None:
    response = admin_api.post("/users", {"email": "ops@example.org", "password": "password"})
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert any("too short" in message for message in body["fields"]["password"])
    assert not User.objects.filter(email="ops@example.org").exists()


def test_add_user_with_taken_address_in_other_case(admin_api: ApiClient, regular_user) -> None:
    response = admin_api.post("/users", {"email": "MIKE@example.org"})
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert body["fields"]["email"] == ["A user with this email address already exists."]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a@example.org", "role": "owner"}, "role"),
        ({"email": "a@example.org", "full_name": "x" * 151}, "full_name"),
        ({"full_name": "No Email"}, "email"),
    ],
)
def test_add_user_with_invalid_fields(admin_api: ApiClient, body, field) -> None:
    error = assert_error(
        admin_api.post("/users", body), HTTPStatus.BAD_REQUEST, "validation_failed"
    )
    assert field in error["fields"]


def test_read_user(admin_api: ApiClient, regular_user: User) -> None:
    body = admin_api.get(f"/users/{regular_user.pk}").json()
    assert body["email"] == "mike@example.org"
    assert body["full_name"] == "Mike User"


def test_read_missing_user_is_404(admin_api: ApiClient) -> None:
    assert_error(admin_api.get("/users/999999"), HTTPStatus.NOT_FOUND, "not_found")


def test_change_only_the_given_fields(admin_api: ApiClient, regular_user: User) -> None:
    response = admin_api.patch(
        f"/users/{regular_user.pk}", {"full_name": "Michael User", "role": None}
    )
    assert response.status_code == HTTPStatus.OK, response.content
    regular_user.refresh_from_db()
    assert regular_user.full_name == "Michael User"
    assert regular_user.role == Role.USER
    assert regular_user.email == "mike@example.org"


def test_promote_and_rename(admin_api: ApiClient, regular_user: User) -> None:
    response = admin_api.patch(
        f"/users/{regular_user.pk}", {"email": "michael@example.org", "role": "admin"}
    )
    assert response.json()["is_admin"] is True
    assert response.json()["email"] == "michael@example.org"


def test_change_to_a_taken_address_is_400(admin_api: ApiClient, regular_user: User) -> None:
    response = admin_api.patch(f"/users/{regular_user.pk}", {"email": "ADMIN@example.org"})
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["email"]


def test_change_missing_user_is_404(admin_api: ApiClient) -> None:
    assert_error(
        admin_api.patch("/users/999999", {"full_name": "x"}), HTTPStatus.NOT_FOUND, "not_found"
    )


def test_administrator_cannot_remove_own_access(admin_api: ApiClient, admin_user: User) -> None:
    for change in ({"role": "user"}, {"is_active": False}):
        response = admin_api.patch(f"/users/{admin_user.pk}", change)
        body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
        assert body["message"] == "You cannot remove your own administrator access."
    assert_error(
        admin_api.post(f"/users/{admin_user.pk}/deactivate"),
        HTTPStatus.BAD_REQUEST,
        "validation_failed",
    )


def test_deactivate_user(admin_api: ApiClient, regular_user: User, user_token: str) -> None:
    response = admin_api.post(f"/users/{regular_user.pk}/deactivate")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["is_active"] is False
    assert AuditEvent.objects.filter(action=Action.USER_DEACTIVATED).count() == 1
    # Deactivating again changes nothing.
    assert admin_api.post(f"/users/{regular_user.pk}/deactivate").json()["is_active"] is False
    assert AuditEvent.objects.filter(action=Action.USER_DEACTIVATED).count() == 1
    assert_error(
        ApiClient(token=user_token).get("/api-tokens"), HTTPStatus.UNAUTHORIZED, "invalid_token"
    )


def test_deactivate_missing_user_is_404(admin_api: ApiClient) -> None:
    assert_error(admin_api.post("/users/999999/deactivate"), HTTPStatus.NOT_FOUND, "not_found")


def test_unlock_user_lifts_the_sign_in_lock(admin_api: ApiClient, regular_user: User) -> None:
    form = {"username": regular_user.email, "password": "a wrong password, long enough"}
    for number in range(10):
        Client(REMOTE_ADDR=f"198.51.100.{number}").post("/login/", form)
    owner = {"username": regular_user.email, "password": USER_PASSWORD}
    assert Client().post("/login/", owner).status_code == HTTPStatus.OK  # locked

    response = admin_api.post(f"/users/{regular_user.pk}/unlock")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["email"] == regular_user.email
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_UNLOCKED).count() == 1
    assert Client().post("/login/", owner).status_code == HTTPStatus.FOUND


def test_unlock_is_for_administrators_and_known_users(
    admin_api: ApiClient, user_api: ApiClient, regular_user: User
) -> None:
    assert_error(
        user_api.post(f"/users/{regular_user.pk}/unlock"), HTTPStatus.FORBIDDEN, "permission_denied"
    )
    assert_error(admin_api.post("/users/999999/unlock"), HTTPStatus.NOT_FOUND, "not_found")
    assert not AuditEvent.objects.filter(action=Action.SIGN_IN_UNLOCKED).exists()
