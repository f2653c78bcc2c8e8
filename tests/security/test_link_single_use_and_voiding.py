"""Point 7: a reset link works once, for a limited time, and every change to the account voids it.

OWASP Forgot Password Cheat Sheet, "URL tokens": single use, expire after an appropriate period,
invalidated when a new one is issued or the password changes; ASVS 5.0 V6.4 (reset tokens) and
V7.4 (session termination on account change). Answers Django CVE-2024-45231's neighbour class of
bugs, where a stale link outlived a change of address.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.accounts.services import password_set

from .conftest import (
    NEW_PASSWORD,
    Mailbox,
    choose_password,
    open_link,
    path_of,
    request_link,
)

pytestmark = pytest.mark.django_db

INVALID = "invalid or has expired"


@pytest.fixture
def later(monkeypatch) -> Callable[[timedelta], None]:
    """Move the application's clock forward by the given amount."""
    real_now = timezone.now
    offset = [timedelta(0)]

    def now() -> datetime:
        return real_now() + offset[0]

    monkeypatch.setattr(timezone, "now", now)

    def advance(by: timedelta) -> None:
        offset[0] += by

    return advance


def assert_void(link: str) -> None:
    response = Client().get(path_of(link))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert INVALID in response.content.decode()


def assert_usable(link: str) -> None:
    client = Client()
    open_link(client, link)
    assert client.get("/reset-password/").status_code == HTTPStatus.OK


def user_form(user: User, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {"email": user.email, "full_name": user.full_name, "role": user.role}
    if user.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_link_works_once_even_for_a_browser_that_opened_it_earlier(
    mailbox: Mailbox, regular_user: User
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    scanner, owner = Client(), Client()
    open_link(scanner, link)
    open_link(owner, link)

    assert choose_password(owner).status_code == HTTPStatus.FOUND

    assert_void(link)
    late = choose_password(scanner, "another passphrase from a second tab")
    assert late.status_code == HTTPStatus.NOT_FOUND
    assert INVALID in late.content.decode()
    regular_user.refresh_from_db()
    assert regular_user.check_password(NEW_PASSWORD)


def test_default_lifetime_is_sixty_minutes(
    mailbox: Mailbox, regular_user: User, admin_client: Client, later
) -> None:
    from autommate.recovery.models import ForgotPasswordSettings

    ForgotPasswordSettings.objects.all().delete()
    page = admin_client.get("/settings/forgot-password/").content.decode()
    assert 'name="link_lifetime_minutes" value="60"' in page
    ForgotPasswordSettings.objects.create(pk=1, enabled=True)

    link = request_link(Client(), mailbox, regular_user.email)
    later(timedelta(minutes=59))
    assert_usable(link)
    later(timedelta(minutes=2))
    assert_void(link)


@pytest.mark.parametrize("minutes", [9, 1441, 0, -5])
def test_lifetime_outside_ten_to_1440_minutes_is_refused(
    mailbox: Mailbox, admin_client: Client, minutes: int
) -> None:
    response = admin_client.post(
        "/settings/forgot-password/", {"enabled": "on", "link_lifetime_minutes": minutes}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    from autommate.recovery.models import ForgotPasswordSettings

    assert ForgotPasswordSettings.objects.get().link_lifetime_minutes == 60


@pytest.mark.parametrize("minutes", [10, 1440])
def test_lifetime_set_by_the_administrator_is_the_links_lifetime(
    mailbox: Mailbox, regular_user: User, admin_client: Client, later, minutes: int
) -> None:
    saved = admin_client.post(
        "/settings/forgot-password/", {"enabled": "on", "link_lifetime_minutes": minutes}
    )
    assert saved.status_code == HTTPStatus.FOUND

    link = request_link(Client(), mailbox, regular_user.email)
    later(timedelta(minutes=minutes - 1))
    assert_usable(link)
    later(timedelta(minutes=2))
    assert_void(link)


def test_newest_link_voids_older_ones(mailbox: Mailbox, regular_user: User) -> None:
    first = request_link(Client(), mailbox, regular_user.email)
    second = request_link(Client(), mailbox, regular_user.email)

    assert_void(first)
    assert_usable(second)


@pytest.mark.parametrize(
    "change",
    [
        lambda user: password_set(user=user, password="changed by an administrator 1"),
        lambda user: (user.set_password("changed from a shell 1234"), user.save()),
    ],
    ids=["password-service", "direct-save"],
)
def test_password_change_by_any_route_voids_every_link(
    mailbox: Mailbox, regular_user: User, change: Callable[[User], object]
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    opened = Client()
    open_link(opened, link)

    change(User.objects.get(pk=regular_user.pk))

    assert_void(link)
    assert choose_password(opened).status_code == HTTPStatus.NOT_FOUND


def test_email_change_voids_every_link_for_good(
    mailbox: Mailbox, regular_user: User, admin_client: Client
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)
    page = f"/users/{regular_user.pk}/"

    moved = admin_client.post(page, user_form(regular_user, email="mike@elsewhere.example"))
    assert moved.status_code == HTTPStatus.FOUND
    assert_void(link)

    regular_user.refresh_from_db()
    back = admin_client.post(page, user_form(regular_user, email="mike@example.org"))
    assert back.status_code == HTTPStatus.FOUND
    assert_void(link)


def test_deactivation_voids_every_link_for_good(
    mailbox: Mailbox, regular_user: User, admin_client: Client
) -> None:
    link = request_link(Client(), mailbox, regular_user.email)

    deactivated = admin_client.post(f"/users/{regular_user.pk}/deactivate/")
    assert deactivated.status_code == HTTPStatus.FOUND
    assert_void(link)

    regular_user.refresh_from_db()
    assert not regular_user.is_active
    reactivated = admin_client.post(
        f"/users/{regular_user.pk}/", user_form(regular_user, is_active="on")
    )
    assert reactivated.status_code == HTTPStatus.FOUND
    assert_void(link)
