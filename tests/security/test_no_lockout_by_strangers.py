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

from .conftest import Clock, Mailbox, request_reset, reset_link

pytestmark = pytest.mark.django_db

OWNER_ADDRESS = "203.0.113.7"
QUARTER_HOUR = 15 * 60


def stranger(number: int) -> Client:
    return Client(REMOTE_ADDR=f"198.51.{100 + number // 250}.{number % 250 + 1}")


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
