"""/account/: one's own name, email (read-only) and Change password."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.audit.models import Action, AuditEvent
from autommate.delivery.models import Kind, OutgoingMessage
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a new and quite long passphrase"


def change(client: Client, current: str, new: str, confirm: str | None = None) -> Any:
    return client.post(
        "/account/",
        {
            "form": "password",
            "current_password": current,
            "new_password1": new,
            "new_password2": new if confirm is None else confirm,
        },
    )


def logged_in(email: str, password: str) -> Client:
    client = Client()
    assert client.post("/login/", {"username": email, "password": password}).status_code == 302
    return client


def test_the_page_has_its_labels_and_a_link_in_the_header(
    user_client: Client, regular_user
) -> None:
    page = user_client.get("/account/").content.decode()

    assert "<h1>Your account</h1>" in page
    assert 'href="/account/">Your account</a>' in page
    for label in ("Full name", "Current password", "New password", "Confirm new password"):
        assert f">{label}</label>" in page
    assert regular_user.email in page
    assert 'name="email"' not in page
    assert ">Change password</button>" in page
    assert 'href="/account/tokens/">API tokens</a>' in page


def test_anonymous_visitors_are_sent_to_log_in() -> None:
    response = Client().get("/account/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/login/")


def test_changing_the_password_keeps_this_session_and_ends_the_others(regular_user: User) -> None:
    here = logged_in(regular_user.email, USER_PASSWORD)
    elsewhere = logged_in(regular_user.email, USER_PASSWORD)

    response = change(here, USER_PASSWORD, NEW_PASSWORD)

    assert response.status_code == HTTPStatus.FOUND
    page = here.get("/account/")
    assert page.status_code == HTTPStatus.OK
    assert "Your password has been changed." in page.content.decode()
    assert elsewhere.get("/account/").status_code == HTTPStatus.FOUND
    regular_user.refresh_from_db()
    assert regular_user.check_password(NEW_PASSWORD)
    notice = OutgoingMessage.objects.get(kind=Kind.PASSWORD_CHANGED)
    assert notice.recipient == regular_user.email
    assert notice.context["via"] == "account"
    event = AuditEvent.objects.get(action=Action.PASSWORD_CHANGED)
    assert event.detail["via"] == "account"


def test_the_notice_says_other_sessions_ended_not_that_tokens_were_revoked(
    regular_user: User, run_worker, configured_mail_server, smtp_server
) -> None:
    change(logged_in(regular_user.email, USER_PASSWORD), USER_PASSWORD, NEW_PASSWORD)
    run_worker()

    (mail,) = smtp_server.messages
    text = mail.get_body(("plain",)).get_content()
    assert "every other session of the account" in text
    assert "revoked" not in text


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        ("not my password", NEW_PASSWORD, None, "current_password", "not your current password"),
        (USER_PASSWORD, "short", None, "new_password1", "too short"),
        (USER_PASSWORD, NEW_PASSWORD, "something else", "new_password2", "do not match"),
        ("", NEW_PASSWORD, None, "current_password", "This field is required"),
    ],
)
def test_a_refused_change_says_why_and_changes_nothing(
    regular_user: User, current: str, new: str, confirm: str | None, field: str, message: str
) -> None:
    client = logged_in(regular_user.email, USER_PASSWORD)

    response = change(client, current, new, confirm)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    page = response.content.decode()
    assert f'id="id_{field}_error"' in page
    assert message in page
    assert "<title>Error: " in page
    regular_user.refresh_from_db()
    assert regular_user.check_password(USER_PASSWORD)
    assert not OutgoingMessage.objects.exists()


def test_guessing_the_current_password_is_throttled_like_logging_in(
    regular_user: User, settings
) -> None:
    settings.LIMIT_SIGN_IN_PER_ACCOUNT = "3/15m"
    client = logged_in(regular_user.email, USER_PASSWORD)
    answers = [change(client, f"guess {n}", NEW_PASSWORD).status_code for n in range(3)]

    refused = change(client, USER_PASSWORD, NEW_PASSWORD)

    assert answers == [HTTPStatus.BAD_REQUEST] * 3
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Retry-After" in refused
    regular_user.refresh_from_db()
    assert regular_user.check_password(USER_PASSWORD)


def test_a_right_current_password_is_not_counted(regular_user: User, settings) -> None:
    settings.LIMIT_SIGN_IN_PER_ACCOUNT = "1/15m"
    client = logged_in(regular_user.email, USER_PASSWORD)

    assert change(client, USER_PASSWORD, NEW_PASSWORD).status_code == HTTPStatus.FOUND
    assert change(client, NEW_PASSWORD, USER_PASSWORD + " again").status_code == HTTPStatus.FOUND


def test_the_name_can_be_changed_but_not_the_email(user_client: Client, regular_user) -> None:
    response = user_client.post(
        "/account/", {"form": "profile", "full_name": "Mike U.", "email": "x@example.org"}
    )

    assert response.status_code == HTTPStatus.FOUND
    regular_user.refresh_from_db()
    assert regular_user.full_name == "Mike U."
    assert regular_user.email == "mike@example.org"
