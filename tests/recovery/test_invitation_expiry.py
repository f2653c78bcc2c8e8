"""An invitation that expires unused is recorded in the audit log once, by the workers' sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.accounts.services import user_update
from autommate.audit.models import Action, AuditEvent
from autommate.delivery.periodic import PeriodicRunner, periodic_jobs
from autommate.recovery.models import LinkKind, ResetLink
from autommate.recovery.services import (
    invitation_send,
    invitations_expired_note,
    link_token_give,
    reset_complete,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a brand new passphrase for nina"


@pytest.fixture
def nina(configured_mail_server) -> User:
    return User.objects.create_user("nina@example.org", full_name="Nina New")


def expire(link: ResetLink) -> None:
    ResetLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    link.refresh_from_db()


def expired_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.INVITATION_EXPIRED))


def test_an_invitation_past_its_lifetime_is_recorded_once(nina: User, admin_user: User) -> None:
    link = invitation_send(user=nina, actor=admin_user)
    assert invitations_expired_note() == 0  # Not expired yet.
    expire(link)

    assert invitations_expired_note() == 1
    assert invitations_expired_note() == 0

    [event] = expired_events()
    assert event.target == "nina@example.org"
    assert event.get_action_display() == "Invitation expired"
    assert event.detail["sent_at"] == link.created_at.isoformat()
    assert event.detail["expired_at"] == link.expires_at.isoformat()
    assert event.client_address is None
    link.refresh_from_db()
    assert link.expiry_noted_at is not None


def test_a_used_invitation_never_expires(nina: User) -> None:
    link = invitation_send(user=nina)
    _link, token = link_token_give(link_id=link.pk, user=nina)
    reset_complete(
        token=token, password=PASSWORD, client_address="192.0.2.1", kind=LinkKind.INVITATION
    )
    expire(link)

    assert invitations_expired_note() == 0
    assert expired_events() == []


@pytest.mark.parametrize("voided_by", ["resend", "deactivation", "email change"])
def test_a_voided_invitation_never_expires(
    nina: User, admin_user: User, voided_by: str, limits_off
) -> None:
    first = invitation_send(user=nina)
    if voided_by == "resend":
        second = invitation_send(user=nina)
    elif voided_by == "deactivation":
        user_update(user=nina, actor=admin_user, is_active=False)
    else:
        user_update(user=nina, actor=admin_user, email="nina.new@example.org")
    expire(first)

    assert invitations_expired_note() == 0
    assert expired_events() == []
    if voided_by == "resend":
        # The newer one still expires in its turn.
        expire(second)
        assert invitations_expired_note() == 1


def test_an_invitation_outrun_by_a_password_set_another_way_is_not_expired(nina: User) -> None:
    link = invitation_send(user=nina)
    nina.set_password(PASSWORD)
    nina.save(update_fields=["password"])
    expire(link)

    assert invitations_expired_note() == 0
    assert expired_events() == []
    # Looked at once: the next sweeps do not read it again.
    link.refresh_from_db()
    assert link.expiry_noted_at is not None


def test_opening_an_expired_invitation_and_the_sweep_record_it_once_between_them(
    nina: User,
) -> None:
    link = invitation_send(user=nina)
    _link, token = link_token_give(link_id=link.pk, user=nina)
    expire(link)

    opened = Client().get(f"/invitation/{token}/", follow=True)
    assert opened.status_code == 404
    Client().get(f"/invitation/{token}/", follow=True)
    assert invitations_expired_note() == 0

    [event] = expired_events()
    assert event.detail["opened"] is True
    assert event.detail["sent_at"] == link.created_at.isoformat()


def test_the_sweep_first_then_opening_records_nothing_more(nina: User) -> None:
    link = invitation_send(user=nina)
    _link, token = link_token_give(link_id=link.pk, user=nina)
    expire(link)

    assert invitations_expired_note() == 1
    Client().get(f"/invitation/{token}/", follow=True)

    assert len(expired_events()) == 1


def test_the_workers_run_the_sweep_among_their_periodic_jobs(nina: User) -> None:
    assert "recovery.invitations_expired" in {job.name for job in periodic_jobs()}
    expire(invitation_send(user=nina))

    done = PeriodicRunner().run_due()

    assert done["recovery.invitations_expired"] == 1
    assert len(expired_events()) == 1
