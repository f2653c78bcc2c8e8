"""Recovery voids reset links when accounts announce a changed address or active flag."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from autommate.accounts.models import User
from autommate.accounts.services import user_deactivate, user_update
from autommate.recovery.models import ResetLink
from autommate.recovery.selectors import link_find
from autommate.recovery.services import link_issue

# Reset links are issued only while Forgot Password is switched on.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("forgot_password_on")]


def issue_link(user: User) -> str:
    return link_issue(user=user, expires_at=timezone.now() + timedelta(hours=1))


def test_changing_the_email_voids_reset_links_for_good(regular_user: User) -> None:
    token = issue_link(regular_user)
    old_email = regular_user.email

    user_update(user=regular_user, email="mike.new@example.org")
    user_update(user=regular_user, email=old_email)

    assert link_find(token=token) is None
    assert ResetLink.objects.get(user=regular_user).voided_at is not None


def test_deactivating_voids_reset_links_for_good(admin_user: User, regular_user: User) -> None:
    token = issue_link(regular_user)

    user_deactivate(user=regular_user, actor=admin_user)
    user_update(user=regular_user, actor=admin_user, is_active=True)

    assert link_find(token=token) is None
    assert ResetLink.objects.get(user=regular_user).voided_at is not None


def test_changing_the_full_name_leaves_reset_links_alone(regular_user: User) -> None:
    token = issue_link(regular_user)

    user_update(user=regular_user, full_name="Michael User")

    assert link_find(token=token) is not None
