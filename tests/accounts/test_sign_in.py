from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.audit.models import Action, AuditEvent
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_has_email_password_and_button(client: Client) -> None:
    response = client.get("/login/")
    body = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert ">Email</label>" in body
    assert ">Password</label>" in body
    assert ">Log in</button>" in body


def test_admin_signs_in_with_email_in_any_case(client: Client, admin_user: User) -> None:
    response = client.post("/login/", {"username": "ADMIN@Example.org", "password": ADMIN_PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"
    assert client.get("/").status_code == HTTPStatus.OK


def test_wrong_password_is_refused_with_a_message(client: Client, admin_user: User) -> None:
    response = client.post("/login/", {"username": admin_user.email, "password": "wrong" * 4})
    assert response.status_code == HTTPStatus.OK
    assert "The email or password is not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_inactive_user_cannot_sign_in(client: Client, admin_user: User) -> None:
    admin_user.is_active = False
    admin_user.save()
    response = client.post("/login/", {"username": admin_user.email, "password": ADMIN_PASSWORD})
    assert response.status_code == HTTPStatus.OK
    assert "_auth_user_id" not in client.session


def test_log_out_is_a_post_with_csrf(admin_user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.get("/logout/").status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert client.post("/logout/").status_code == HTTPStatus.FORBIDDEN
    page = client.get("/").content.decode()
    assert ">Log out</button>" in page
    assert "_auth_user_id" in client.session


def test_failed_sign_ins_lock_the_account_without_revealing_it_exists(
    client: Client, admin_user: User, settings
) -> None:
    settings.LIMIT_SIGN_IN_PER_ACCOUNT = "3/15m"
    for address in (admin_user.email, "nobody@example.org"):
        for _ in range(3):
            client.post("/login/", {"username": address, "password": "wrong password here"})
    known = client.post("/login/", {"username": admin_user.email, "password": ADMIN_PASSWORD})
    unknown = client.post("/login/", {"username": "nobody@example.org", "password": "x" * 20})
    assert "Too many failed attempts to log in" in known.content.decode()
    assert "Too many failed attempts to log in" in unknown.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_LOCKED).count() == 2


def test_failed_sign_ins_lock_the_client_address(
    client: Client, admin_user: User, settings
) -> None:
    settings.LIMIT_SIGN_IN_PER_CLIENT = "2/15m"
    client.post("/login/", {"username": "a@example.org", "password": "wrong password here"})
    client.post("/login/", {"username": "b@example.org", "password": "wrong password here"})
    locked = client.post("/login/", {"username": admin_user.email, "password": ADMIN_PASSWORD})
    assert "Too many failed attempts to log in" in locked.content.decode()
    other_client = Client(REMOTE_ADDR="192.0.2.7")
    other_client.post("/login/", {"username": admin_user.email, "password": ADMIN_PASSWORD})
    assert "_auth_user_id" in other_client.session


LOOPING_TARGETS = [
    "/login/",
    "/login/?next=/login/",
    "/login",
    "/%6Cogin/",
    "http://testserver/login/",
    "//testserver/login/?next=/users/",
    "/logout/",
    "http://testserver/logout/",
]


@pytest.mark.parametrize("target", LOOPING_TARGETS)
def test_a_signed_in_user_sent_back_to_signing_in_or_out_goes_home(
    admin_client: Client, target: str
) -> None:
    response = admin_client.get("/login/", {"next": target})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"


@pytest.mark.parametrize("target", LOOPING_TARGETS)
def test_signing_in_towards_the_sign_in_or_out_page_goes_home(
    client: Client, admin_user: User, target: str
) -> None:
    response = client.post(
        f"/login/?next={target.replace('?', '%3F').replace('=', '%3D')}",
        {"username": admin_user.email, "password": ADMIN_PASSWORD},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"


def test_a_signed_in_user_is_still_sent_where_next_says(admin_client: Client) -> None:
    response = admin_client.get("/login/", {"next": "/users/?q=mike"})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/users/?q=mike"
