"""Finding a reset link by its token or the token's hash, as the page and the API do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from autommate.accounts.models import User
from autommate.recovery.models import ResetLink
from autommate.recovery.selectors import link_find, link_find_by_hash, token_hash
from autommate.recovery.services import link_issue

# Reset links are issued only while Forgot Password is switched on.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("forgot_password_on")]


@pytest.fixture
def token(regular_user: User) -> str:
    return link_issue(user=regular_user, expires_at=timezone.now() + timedelta(hours=1))


def test_a_fresh_link_is_found_by_its_token_and_by_its_hash(token: str) -> None:
    found = link_find(token=token)

    assert found is not None
    assert found.user.email == "mike@example.org"
    assert link_find_by_hash(digest=token_hash(token)) == found


def test_finding_a_link_never_uses_it_up(token: str) -> None:
    link_find(token=token)
    link_find(token=token)

    assert ResetLink.objects.get().used_at is None
    assert link_find(token=token) is not None


@pytest.mark.parametrize("wrong", ["", "not-a-token", "x" * 129])
def test_an_empty_unknown_or_overlong_token_finds_nothing(token: str, wrong: str) -> None:
    assert link_find(token=wrong) is None


def test_an_empty_hash_finds_nothing(token: str) -> None:
    assert link_find_by_hash(digest="") is None


def _use(link: ResetLink) -> None:
    link.used_at = timezone.now()
    link.save()


def _void(link: ResetLink) -> None:
    link.voided_at = timezone.now()
    link.save()


def _expire(link: ResetLink) -> None:
    link.expires_at = timezone.now() - timedelta(seconds=1)
    link.save()


def _deactivate(link: ResetLink) -> None:
    User.objects.filter(pk=link.user_id).update(is_active=False)


def _change_password(link: ResetLink) -> None:
    link.user.set_password("another long passphrase")
    link.user.save()


def _change_email(link: ResetLink) -> None:
    User.objects.filter(pk=link.user_id).update(email_key="other@example.org")


@pytest.mark.parametrize(
    "spoil", [_use, _void, _expire, _deactivate, _change_password, _change_email]
)
def test_a_link_stops_being_found_once_it_can_no_longer_be_used(
    token: str, spoil: Callable[[ResetLink], None]
) -> None:
    spoil(ResetLink.objects.select_related("user").get())

    assert link_find(token=token) is None
    assert link_find_by_hash(digest=token_hash(token)) is None
