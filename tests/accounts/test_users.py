from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import Role, User
from autommate.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

STRONG = "a perfectly long passphrase"


def test_user_management_is_for_administrators_only(client: Client, user_client: Client) -> None:
    assert client.get("/users/")["Location"].startswith("/login/")
    assert user_client.get("/users/").status_code == HTTPStatus.FORBIDDEN
    assert user_client.post("/users/add/", {"email": "x@example.org"}).status_code == (
        HTTPStatus.FORBIDDEN
    )
    assert not User.objects.filter(email="x@example.org").exists()


def test_admin_adds_a_user_with_the_documented_fields(admin_client: Client) -> None:
    page = admin_client.get("/users/add/").content.decode()
    for label in ("Email", "Full name", "Role", "Active", "Password"):
        assert f">{label}</label>" in page
    response = admin_client.post(
        "/users/add/",
        {
            "email": "new@example.org",
            "full_name": "New Person",
            "role": Role.USER,
            "is_active": "on",
            "password": STRONG,
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    user = User.objects.get(email="new@example.org")
    assert user.full_name == "New Person"
    assert user.is_active
    assert user.check_password(STRONG)
    assert AuditEvent.objects.filter(action=Action.USER_CREATED, target=user.email).exists()
    assert "new@example.org" in admin_client.get("/users/").content.decode()


def test_user_added_without_password_cannot_sign_in_until_reset(admin_client: Client) -> None:
    admin_client.post(
        "/users/add/", {"email": "first@example.org", "role": Role.USER, "is_active": "on"}
    )
    user = User.objects.get(email="first@example.org")
    assert not user.has_usable_password()


def test_email_is_unique_regardless_of_case(admin_client: Client, regular_user: User) -> None:
    response = admin_client.post(
        "/users/add/", {"email": "MIKE@EXAMPLE.ORG", "role": Role.USER, "is_active": "on"}
    )
    assert response.status_code == HTTPStatus.OK
    assert "already exists" in response.content.decode()
    assert User.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-address"}, "Enter a valid email address"),
        ({"email": "a@example.org", "full_name": "x" * 10_000}, "at most 150 characters"),
        ({"email": "a@example.org", "password": "short"}, "at least 15 characters"),
        ({"email": "a@example.org", "role": "root"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(
    admin_client: Client, data: dict[str, str], message: str
) -> None:
    response = admin_client.post("/users/add/", {"role": Role.USER, **data})
    assert response.status_code == HTTPStatus.OK
    assert message in response.content.decode()
    assert User.objects.count() == 1


def test_admin_edits_and_deactivates_a_user(admin_client: Client, regular_user: User) -> None:
    response = admin_client.post(
        f"/users/{regular_user.pk}/",
        {
            "email": regular_user.email,
            "full_name": "Mike Renamed",
            "role": Role.USER,
            "is_active": "on",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    regular_user.refresh_from_db()
    assert regular_user.full_name == "Mike Renamed"

    assert (
        admin_client.post(f"/users/{regular_user.pk}/deactivate/").status_code == HTTPStatus.FOUND
    )
    regular_user.refresh_from_db()
    assert not regular_user.is_active
    assert AuditEvent.objects.filter(action=Action.USER_DEACTIVATED).exists()


def test_deactivated_user_loses_their_session(
    user_client: Client, admin_client: Client, regular_user: User
) -> None:
    assert user_client.get("/").status_code == HTTPStatus.OK
    admin_client.post(f"/users/{regular_user.pk}/deactivate/")
    assert user_client.get("/").status_code == HTTPStatus.FOUND


def test_the_last_administrator_cannot_be_removed(admin_client: Client, admin_user: User) -> None:
    response = admin_client.post(f"/users/{admin_user.pk}/deactivate/", follow=True)
    assert "cannot remove your own administrator access" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_unknown_user_is_a_clear_404(admin_client: Client) -> None:
    response = admin_client.get("/users/999999/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "There is no page at this address" in response.content.decode()
