"""The sign-in service, which the sign-in page calls: its checks, counts, locks and records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from autommate.accounts.devices import device_cookie_value
from autommate.accounts.models import User
from autommate.accounts.signin import InvalidSignIn, sign_in_attempt
from autommate.audit.models import Action, AuditEvent
from autommate.ratelimits.services import RateLimited
from autommate.recovery.services import link_issue, reset_complete
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

CLIENT = "198.51.100.1"
WRONG = "a wrong password, long enough"
NEW_PASSWORD = "a brand new passphrase for mike"


@pytest.fixture(autouse=True)
def _three_failures_lock_an_account(settings) -> None:
    settings.LIMIT_SIGN_IN_PER_ACCOUNT = "3/15m"


def fail(email: str, times: int, client: str = CLIENT) -> None:
    for _ in range(times):
        with pytest.raises(InvalidSignIn):
            sign_in_attempt(email=email, password=WRONG, client_address=client)


def test_right_password_returns_the_user(regular_user: User) -> None:
    user = sign_in_attempt(email="MIKE@Example.org", password=USER_PASSWORD, client_address=CLIENT)
    assert user == regular_user


def test_wrong_password_is_refused_and_recorded(regular_user: User) -> None:
    fail(regular_user.email, 1)
    event = AuditEvent.objects.get(action=Action.SIGN_IN_FAILED)
    assert event.client_address == CLIENT


def test_inactive_account_is_refused_like_a_wrong_password(regular_user: User) -> None:
    regular_user.is_active = False
    regular_user.save()
    with pytest.raises(InvalidSignIn) as refusal:
        sign_in_attempt(email=regular_user.email, password=USER_PASSWORD, client_address=CLIENT)
    assert refusal.value.message == str(InvalidSignIn.default_message)
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_FAILED).count() == 1


def test_account_locks_after_the_limit_even_for_the_right_password(regular_user: User) -> None:
    fail(regular_user.email, 3)
    with pytest.raises(RateLimited) as refusal:
        sign_in_attempt(email=regular_user.email, password=USER_PASSWORD, client_address=CLIENT)
    assert refusal.value.message.startswith("Too many failed attempts to log in. Try again in ")
    assert refusal.value.message.endswith(", or use Forgot Password if it is available.")
    assert refusal.value.retry_after_seconds > 0
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_LOCKED).count() == 1


@pytest.mark.parametrize("email", ["mike@example.org", "nobody@example.org"])
def test_unknown_address_is_counted_and_locked_like_a_known_one(
    regular_user: User, email: str
) -> None:
    fail(email, 3)
    with pytest.raises(RateLimited):
        sign_in_attempt(email=email, password=USER_PASSWORD, client_address="198.51.100.2")
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_FAILED).count() == 3
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_LOCKED).count() == 1


def test_lock_of_one_address_leaves_other_accounts_alone(
    regular_user: User, admin_user: User
) -> None:
    fail(admin_user.email, 3)
    user = sign_in_attempt(email=regular_user.email, password=USER_PASSWORD, client_address=CLIENT)
    assert user == regular_user


def test_client_locks_across_addresses(regular_user: User, settings) -> None:
    settings.LIMIT_SIGN_IN_PER_CLIENT = "2/15m"
    fail("a@example.org", 1)
    fail("b@example.org", 1)
    with pytest.raises(RateLimited):
        sign_in_attempt(email=regular_user.email, password=USER_PASSWORD, client_address=CLIENT)
    user = sign_in_attempt(
        email=regular_user.email, password=USER_PASSWORD, client_address="198.51.100.2"
    )
    assert user == regular_user


@pytest.mark.usefixtures("forgot_password_on")
def test_completed_password_reset_lifts_the_account_lock(regular_user: User) -> None:
    fail(regular_user.email, 3)
    token = link_issue(user=regular_user, expires_at=timezone.now() + timedelta(hours=1))

    reset_complete(token=token, password=NEW_PASSWORD, client_address="198.51.100.3")

    user = sign_in_attempt(
        email=regular_user.email, password=NEW_PASSWORD, client_address="198.51.100.4"
    )
    assert user == regular_user


def test_right_passwords_give_their_place_back(regular_user: User) -> None:
    for _ in range(10):
        sign_in_attempt(email=regular_user.email, password=USER_PASSWORD, client_address=CLIENT)
    fail(regular_user.email, 3)
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_LOCKED).count() == 1


def test_a_lock_names_the_allowance_it_spent(regular_user: User, settings) -> None:
    settings.LIMIT_SIGN_IN_PER_CLIENT = "3/15m"
    settings.LIMIT_SIGN_IN_PER_ACCOUNT = "5/15m"
    fail("a@example.org", 3)
    event = AuditEvent.objects.get(action=Action.SIGN_IN_LOCKED)
    assert event.detail["limits"] == ["client"]


def test_a_known_browser_has_its_own_allowance(regular_user: User) -> None:
    cookie = device_cookie_value(cookie="", address=regular_user.email)
    fail(regular_user.email, 3)  # strangers are locked out now
    for _ in range(3):
        with pytest.raises(InvalidSignIn):
            sign_in_attempt(
                email=regular_user.email,
                password=WRONG,
                client_address=CLIENT,
                device_cookie=cookie,
            )
    with pytest.raises(RateLimited):
        sign_in_attempt(
            email=regular_user.email,
            password=USER_PASSWORD,
            client_address=CLIENT,
            device_cookie=cookie,
        )
    locks = AuditEvent.objects.filter(action=Action.SIGN_IN_LOCKED).order_by("id")
    assert [event.detail["limits"] for event in locks] == [["account"], ["known browser"]]
