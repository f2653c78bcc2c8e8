"""Point 21: switching Forgot Password off stops every reset, also the ones already under way.

An administrator switches the feature off when the mail is not trusted any more, or a reset
campaign is under way: links already mailed must stop working (and not come back when it is
switched on again), and reset mails still waiting in the queue must not go out. OWASP Forgot
Password Cheat Sheet, "URL tokens" (invalidate tokens that must no longer be used); ASVS 5.0
V6.4.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.recovery.models import ResetLink, ResetRequest
from autommate.recovery.services import reset_request_process
from tests.api.conftest import ApiClient, token_for
from tests.conftest import USER_PASSWORD

from .conftest import (
    NEW_PASSWORD,
    Mailbox,
    choose_password,
    open_link,
    path_of,
    request_link,
    request_reset,
    token_of,
)

pytestmark = pytest.mark.django_db

SWITCHED_OFF = "Forgot Password is off"
DROPPED = "Forgot Password was switched off before this reset mail could be sent"
INVALID = "invalid or has expired"


def switch(admin_client: Client, *, on: bool) -> None:
    data = {"link_lifetime_minutes": 60} | ({"enabled": "on"} if on else {})
    response = admin_client.post("/settings/forgot-password/", data)
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()


def password_unchanged(user: User) -> bool:
    return User.objects.get(pk=user.pk).check_password(USER_PASSWORD)


def test_issued_links_refuse_while_off_and_stay_void_when_on_again(
    mailbox: Mailbox, regular_user: User, admin_client: Client
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    opened = Client()
    open_link(opened, link)  # A browser that opened the link before the switch.

    switch(admin_client, on=False)

    fresh = Client().get(path_of(link))
    assert fresh.status_code == HTTPStatus.NOT_FOUND
    assert SWITCHED_OFF in fresh.content.decode()
    form = opened.get("/reset-password/")
    assert form.status_code == HTTPStatus.NOT_FOUND
    assert SWITCHED_OFF in form.content.decode()
    submitted = choose_password(opened)
    assert submitted.status_code == HTTPStatus.NOT_FOUND
    assert SWITCHED_OFF in submitted.content.decode()
    confirmed = ApiClient().post(
        "/password-reset/confirm", {"token": token_of(link), "new_password": NEW_PASSWORD}
    )
    assert confirmed.status_code == HTTPStatus.NOT_FOUND
    assert confirmed.json()["code"] == "forgot_password_disabled"
    assert password_unchanged(regular_user)

    switch(admin_client, on=True)

    again = Client().get(path_of(link))
    assert again.status_code == HTTPStatus.NOT_FOUND
    assert INVALID in again.content.decode()
    assert choose_password(opened).status_code == HTTPStatus.NOT_FOUND
    assert password_unchanged(regular_user)
    assert not ResetLink.objects.filter(voided_at=None, used_at=None).exists()


def test_switching_off_through_the_api_voids_the_links_too(
    mailbox: Mailbox, regular_user: User, admin_user: User
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    admin_api = ApiClient(token=token_for(admin_user))

    off = admin_api.put("/forgot-password", {"enabled": False})
    assert off.status_code == HTTPStatus.OK, off.content
    on = admin_api.put("/forgot-password", {"enabled": True})
    assert on.status_code == HTTPStatus.OK, on.content

    confirmed = ApiClient().post(
        "/password-reset/confirm", {"token": token_of(link), "new_password": NEW_PASSWORD}
    )
    assert confirmed.status_code == HTTPStatus.BAD_REQUEST
    assert confirmed.json()["code"] == "invalid_reset_link"
    assert password_unchanged(regular_user)


def test_queued_reset_mails_are_dropped_and_the_mail_log_says_so(
    mailbox: Mailbox, regular_user: User, admin_client: Client, admin_user: User
) -> None:
    # One request already turned into a queued mail, one still waiting to be looked up.
    assert request_reset(Client(), regular_user.email).status_code == HTTPStatus.FOUND
    reset_request_process(ResetRequest.objects.get().pk)
    assert OutgoingMessage.objects.filter(kind=Kind.RESET, state=State.QUEUED).count() == 1
    assert request_reset(Client(), regular_user.email).status_code == HTTPStatus.FOUND

    switch(admin_client, on=False)

    assert mailbox.deliver() == []
    dropped = OutgoingMessage.objects.filter(kind=Kind.RESET)
    assert dropped.count() == 2
    assert {(m.state, m.sent_at) for m in dropped} == {(State.FAILED, None)}
    assert all(DROPPED in m.last_error for m in dropped)
    assert not ResetLink.objects.exists()
    assert DROPPED in admin_client.get("/settings/mail/log/").content.decode()
    logged = ApiClient(token=token_for(admin_user)).get("/mail-log", {"kind": "reset"}).json()
    assert [(m["state"], DROPPED in m["last_error"]) for m in logged["items"]] == [
        ("failed", True),
        ("failed", True),
    ]


def test_the_password_changed_notice_still_goes_out_while_off(
    mailbox: Mailbox, regular_user: User, admin_client: Client
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    opened = Client()
    open_link(opened, link)
    assert choose_password(opened).status_code == HTTPStatus.FOUND

    switch(admin_client, on=False)

    notice = mailbox.deliver_one()
    assert "password was changed" in notice["Subject"]
