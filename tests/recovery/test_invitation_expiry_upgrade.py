"""The upgrade that brings the sweep for expired invitations: what an opening recorded already
is not recorded again. The migration runs here for real."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from autommate.audit.models import Action, AuditEvent
from autommate.recovery.models import ResetLink
from autommate.recovery.selectors import account_state
from autommate.recovery.services import invitations_expired_note

BEFORE = [
    ("accounts", "0003_user_session_generation"),
    ("recovery", "0002_link_kinds_and_invitations"),
    ("audit", "0005_invitation_events"),
]
AFTER = [("recovery", "0003_invitation_expiry")]


@pytest.mark.django_db(transaction=True)
def test_invitations_whose_expiry_an_opening_recorded_are_not_recorded_again() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    user_model = old.get_model("accounts", "User")
    link_model = old.get_model("recovery", "ResetLink")
    event_model = old.get_model("audit", "AuditEvent")
    expired_at = timezone.now() - timedelta(days=1)
    links = {}
    for name in ("opened", "never-opened"):
        user = user_model.objects.create(
            email=f"{name}@example.org", email_key=f"{name}@example.org", password="!"
        )
        links[name] = link_model.objects.create(
            user=user,
            kind="invitation",
            by_administrator=True,
            account_state="x",
            created_at=expired_at - timedelta(days=7),
            expires_at=expired_at,
        )
    event_model.objects.create(
        action="invitation_expired",
        target="opened@example.org",
        detail={"expired_at": expired_at.isoformat()},
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    opened = ResetLink.objects.get(pk=links["opened"].pk)
    never_opened = ResetLink.objects.get(pk=links["never-opened"].pk)
    assert opened.expiry_noted_at is not None
    assert never_opened.expiry_noted_at is None
    # Issued for the account as it is (the hand-made rows above could not compute it).
    for link in (opened, never_opened):
        link.account_state = account_state(link.user)
        link.save(update_fields=["account_state"])

    assert invitations_expired_note() == 1
    events = AuditEvent.objects.filter(action=Action.INVITATION_EXPIRED)
    assert sorted(events.values_list("target", flat=True)) == [
        "never-opened@example.org",
        "opened@example.org",
    ]
