"""The seed's journey for a user, through the pages, with a real SMTP server."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.delivery.models import Kind, OutgoingMessage, State
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase for mike"
LINK = re.compile(r"http://127\.0\.0\.1:8000/reset-password/[A-Za-z0-9_-]+/")


def request_reset(client: Client, address: str):
    return client.post("/forgot-password/", {"email": address}, follow=True)


def reset_link_from(message) -> str:
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    links: set[str] = set(LINK.findall(html)) | set(LINK.findall(text))
    assert len(links) == 1, links
    return links.pop()


def test_login_offers_forgot_password_only_while_enabled(client, forgot_password_on) -> None:
    assert ">Forgot Password</a>" in client.get("/login/").content.decode()
    forgot_password_on.enabled = False
    forgot_password_on.save()
    assert "Forgot Password" not in client.get("/login/").content.decode()


def test_disabled_feature_says_so_and_sends_nothing(
    client, configured_mail_server, regular_user, smtp_server, run_worker
) -> None:
    response = client.post("/forgot-password/", {"email": regular_user.email})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Forgot Password is off" in response.content.decode()
    run_worker()
    assert smtp_server.messages == []
    assert not OutgoingMessage.objects.exists()


def test_user_resets_password_through_the_emailed_link(
    client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    page = client.get("/forgot-password/").content.decode()
    assert ">Email</label>" in page
    assert ">Reset Password</button>" in page

    response = request_reset(client, "Mike@Example.org")
    assert response.status_code == HTTPStatus.OK
    assert 'role="status"' in response.content.decode()
    assert "A reset email has been sent" in response.content.decode()
    assert smtp_server.messages == []  # The request path never talks SMTP.

    run_worker()
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "mike@example.org"
    assert message["From"] == "Autom Mate <noreply@example.org>"
    assert "Reset" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert ">Reset Password</a>" in html
    link = reset_link_from(message)
    assert link in message.get_body(("plain",)).get_content()

    path = link.removeprefix("http://127.0.0.1:8000")
    opened = client.get(path)
    assert opened.status_code == HTTPStatus.FOUND
    assert opened["Location"] == "/reset-password/"
    form = client.get("/reset-password/").content.decode()
    assert "<h1>Reset your password</h1>" in form
    for label in ("New password", "Confirm new password"):
        assert f">{label}</label>" in form
    assert ">Change Password</button>" in form

    done = client.post(
        "/reset-password/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == "/login/"
    assert "Your password has been changed" in done.content.decode()

    fresh = Client()
    assert not fresh.login(username="mike@example.org", password=USER_PASSWORD)
    assert fresh.login(username="mike@example.org", password=NEW_PASSWORD)

    run_worker()
    notice = smtp_server.wait_for(2)[1]
    assert "changed" in notice["Subject"]
    assert not LINK.search(notice.get_body(("plain",)).get_content())


def test_link_works_once(client, forgot_password_on, regular_user, smtp_server, run_worker) -> None:
    request_reset(client, regular_user.email)
    run_worker()
    path = reset_link_from(smtp_server.wait_for(1)[0]).removeprefix("http://127.0.0.1:8000")
    client.get(path)
    client.post("/reset-password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = Client().get(path)
    assert again.status_code == HTTPStatus.NOT_FOUND
    body = again.content.decode()
    assert "invalid or has expired" in body
    assert 'href="/forgot-password/"' in body


def test_opening_the_link_twice_does_not_use_it_up(
    client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    request_reset(client, regular_user.email)
    run_worker()
    path = reset_link_from(smtp_server.wait_for(1)[0]).removeprefix("http://127.0.0.1:8000")
    assert Client().get(path).status_code == HTTPStatus.FOUND  # a mail scanner
    assert Client().head(path).status_code == HTTPStatus.FOUND
    assert client.get(path).status_code == HTTPStatus.FOUND
    assert client.get("/reset-password/").status_code == HTTPStatus.OK


def test_expired_link_is_refused(
    client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from autommate.recovery.models import ResetLink

    request_reset(client, regular_user.email)
    run_worker()
    path = reset_link_from(smtp_server.wait_for(1)[0]).removeprefix("http://127.0.0.1:8000")
    ResetLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(path)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "invalid or has expired" in response.content.decode()


def test_unknown_and_inactive_addresses_get_the_same_answer_and_no_mail(
    forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    inactive = User.objects.create_user("gone@example.org", USER_PASSWORD, is_active=False)
    responses = [
        Client().post("/forgot-password/", {"email": address})
        for address in (regular_user.email, "nobody@example.org", inactive.email)
    ]
    assert {(r.status_code, r["Location"]) for r in responses} == {
        (HTTPStatus.FOUND, "/forgot-password/check-email/")
    }
    run_worker()
    assert [m["To"] for m in smtp_server.wait_for(1)] == [regular_user.email]
    assert OutgoingMessage.objects.filter(kind=Kind.RESET).count() == 1


def test_weak_and_mismatched_passwords_are_explained(
    client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    request_reset(client, regular_user.email)
    run_worker()
    client.get(reset_link_from(smtp_server.wait_for(1)[0]).removeprefix("http://127.0.0.1:8000"))
    short = client.post("/reset-password/", {"new_password1": "short", "new_password2": "short"})
    assert short.status_code == HTTPStatus.BAD_REQUEST
    assert "at least 15 characters" in short.content.decode()
    common = "yfdbufnjh10305070"  # on Django's list of common passwords
    body = client.post(
        "/reset-password/", {"new_password1": common, "new_password2": common}
    ).content.decode()
    assert "too common" in body
    like_email = "mike@example.org1"
    body = client.post(
        "/reset-password/", {"new_password1": like_email, "new_password2": like_email}
    ).content.decode()
    assert "too similar" in body
    mismatch = client.post(
        "/reset-password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"}
    )
    assert "do not match" in mismatch.content.decode()
    regular_user.refresh_from_db()
    assert regular_user.check_password(USER_PASSWORD)


def test_reset_mail_is_logged_without_link_or_token(
    client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    request_reset(client, regular_user.email)
    run_worker()
    link = reset_link_from(smtp_server.wait_for(1)[0])
    token = link.rstrip("/").rsplit("/", 1)[1]
    message = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert message.state == State.SENT
    assert token not in str(message.context)
    assert token not in message.last_error
