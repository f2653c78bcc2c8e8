"""Point 21: no stranger can keep an owner from signing in or from getting a reset mail.

An anonymous attacker who knows an address can lock it against strangers, as every throttle per
account must; it must not lock out the owner for longer than the shortest window (15 minutes),
and it must not buy faster guessing or more mail to the owner's mailbox either. OWASP
Authentication Cheat Sheet ("Slow down online guessing attacks with device cookies"); OWASP
Forgot Password Cheat Sheet (account lockout); ASVS 5.0 V6.1.1, V6.3.1; NIST SP 800-63B-4
section 3.2.2.

The attacks are the ones the product was found open to: ten wrong passwords from anywhere lock
the account and forty an hour keep it locked; ten reset requests in a second used to spend the
address's reset mails for the rest of the day.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from autommate.accounts.models import User
from autommate.audit.models import Action, AuditEvent
from tests.conftest import USER_PASSWORD

from .conftest import (
    NEW_PASSWORD,
    Clock,
    Mailbox,
    choose_password,
    open_link,
    request_link,
    request_reset,
    reset_link,
)

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed attempts to log in"
WRONG = "a wrong password, long enough"
OWNER_ADDRESS = "203.0.113.7"
QUARTER_HOUR = 15 * 60


def stranger(number: int) -> Client:
    return Client(REMOTE_ADDR=f"198.51.{100 + number // 250}.{number % 250 + 1}")


def sign_in(client: Client, email: str, password: str):
    return client.post("/login/", {"username": email, "password": password})


def signed_in_owner_browser(owner: User) -> Client:
    """The owner's browser after one sign-in and a sign-out: it keeps its device cookie."""
    browser = Client(REMOTE_ADDR=OWNER_ADDRESS)
    assert sign_in(browser, owner.email, USER_PASSWORD).status_code == HTTPStatus.FOUND
    browser.post("/logout/")
    return browser


def lock_out(email: str, clock: Clock, *, hours: int = 2) -> None:
    """Ten wrong passwords from anywhere, then forty an hour from changing addresses."""
    for number in range(10):
        assert sign_in(stranger(number), email, WRONG).status_code == HTTPStatus.OK
    for number in range(40 * hours):
        clock.advance(3600 / 40)
        sign_in(stranger(10 + number), email, WRONG)
    assert LOCKED in sign_in(stranger(999), email, USER_PASSWORD).content.decode()


def test_the_owners_browser_signs_in_while_strangers_are_locked_out(
    regular_user: User, clock: Clock
) -> None:
    browser = signed_in_owner_browser(regular_user)

    lock_out(regular_user.email, clock)

    new_browser = Client(REMOTE_ADDR=OWNER_ADDRESS)
    assert LOCKED in sign_in(new_browser, regular_user.email, USER_PASSWORD).content.decode()
    signed = sign_in(browser, regular_user.email, USER_PASSWORD)
    assert signed.status_code == HTTPStatus.FOUND
    assert browser.get("/").status_code == HTTPStatus.OK


def test_a_new_browser_signs_in_one_window_after_the_attack_stops(
    regular_user: User, clock: Clock
) -> None:
    lock_out(regular_user.email, clock)

    clock.advance(QUARTER_HOUR)

    new_browser = Client(REMOTE_ADDR=OWNER_ADDRESS)
    assert sign_in(new_browser, regular_user.email, USER_PASSWORD).status_code == HTTPStatus.FOUND


def test_the_owner_resets_and_signs_in_while_the_attack_goes_on(
    mailbox: Mailbox, regular_user: User, clock: Clock
) -> None:
    lock_out(regular_user.email, clock)
    new_browser = Client(REMOTE_ADDR=OWNER_ADDRESS)

    open_link(new_browser, request_link(new_browser, mailbox, regular_user.email))
    assert choose_password(new_browser).status_code == HTTPStatus.FOUND
    lock_out(regular_user.email, clock, hours=0)  # at it again at once

    assert LOCKED in sign_in(stranger(998), regular_user.email, NEW_PASSWORD).content.decode()
    signed = sign_in(new_browser, regular_user.email, NEW_PASSWORD)
    assert signed.status_code == HTTPStatus.FOUND


def test_a_known_browser_gets_its_own_allowance_not_unlimited_guesses(
    regular_user: User, clock: Clock
) -> None:
    browser = signed_in_owner_browser(regular_user)
    lock_out(regular_user.email, clock, hours=0)

    own = [sign_in(browser, regular_user.email, WRONG) for _ in range(10)]
    assert all(LOCKED not in answer.content.decode() for answer in own)

    # Its own allowance spent, the browser is a stranger again, and strangers are locked out.
    assert LOCKED in sign_in(browser, regular_user.email, USER_PASSWORD).content.decode()
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_FAILED).count() == 20


def test_requests_refused_in_a_burst_leave_the_owner_the_rest_of_the_day(
    mailbox: Mailbox, regular_user: User, clock: Clock
) -> None:
    for number in range(10):  # ten requests in a second
        request_reset(stranger(number), regular_user.email)
    assert len(mailbox.deliver()) == 3
    owner = Client(REMOTE_ADDR=OWNER_ADDRESS)
    assert request_reset(owner, regular_user.email).status_code == HTTPStatus.TOO_MANY_REQUESTS

    clock.advance(QUARTER_HOUR)

    assert request_reset(owner, regular_user.email).status_code == HTTPStatus.FOUND
    assert reset_link(mailbox.deliver_one())


def test_the_owners_browser_gets_a_reset_mail_when_strangers_spent_the_address_allowance(
    mailbox: Mailbox, regular_user: User, clock: Clock
) -> None:
    browser = signed_in_owner_browser(regular_user)
    sent = 0
    for number in range(200):  # strangers asking as fast as the limits allow, for a day
        if request_reset(stranger(number), regular_user.email).status_code == HTTPStatus.FOUND:
            sent += 1
        clock.advance(5 * 60)
    assert sent == 10  # no more than the address's ten a day
    assert len(mailbox.deliver()) == 10
    refused = request_reset(stranger(300), regular_user.email)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS

    assert request_reset(browser, regular_user.email).status_code == HTTPStatus.FOUND
    assert reset_link(mailbox.deliver_one())


def test_an_administrator_unlocks_the_account_on_the_users_page(
    mailbox: Mailbox, admin_user: User, regular_user: User, clock: Clock
) -> None:
    admin = Client(REMOTE_ADDR="192.0.2.10")
    admin.force_login(admin_user)
    for number in range(10):  # the address's reset mails for the day spent
        request_reset(stranger(number), regular_user.email)
        clock.advance(5 * 60)
    lock_out(regular_user.email, clock, hours=0)
    refused = request_reset(Client(REMOTE_ADDR=OWNER_ADDRESS), regular_user.email)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    page = admin.get(f"/users/{regular_user.pk}/").content.decode()
    assert "Locked" in page
    assert ">Unlock</button>" in page

    unlocked = admin.post(f"/users/{regular_user.pk}/unlock/", follow=True)

    assert f"Logging in to {regular_user.email} has been unlocked." in unlocked.content.decode()
    assert "Locked" not in unlocked.content.decode()
    event = AuditEvent.objects.get(action=Action.SIGN_IN_UNLOCKED)
    assert (event.actor, event.target, event.client_address) == (
        admin_user,
        regular_user.email,
        "192.0.2.10",
    )
    owner = Client(REMOTE_ADDR=OWNER_ADDRESS)
    assert request_reset(owner, regular_user.email).status_code == HTTPStatus.FOUND
    assert sign_in(owner, regular_user.email, USER_PASSWORD).status_code == HTTPStatus.FOUND


def test_only_administrators_unlock(user_client: Client, client: Client, admin_user: User) -> None:
    assert user_client.post(f"/users/{admin_user.pk}/unlock/").status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"/users/{admin_user.pk}/unlock/").status_code == HTTPStatus.FOUND
    assert user_client.get(f"/users/{admin_user.pk}/unlock/").status_code in {
        HTTPStatus.FORBIDDEN,
        HTTPStatus.METHOD_NOT_ALLOWED,
    }
    assert not AuditEvent.objects.filter(action=Action.SIGN_IN_UNLOCKED).exists()
