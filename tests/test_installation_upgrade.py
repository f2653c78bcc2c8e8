"""A whole installation of the previous release migrates to this one with no manual step.

The database is taken back to the previous release's schema (its last migration of each app),
filled through the models as they were then, and migrated forward as `autommate setup` does.
When a change adds a migration, this test runs it on data of the release before; at a release,
`PREVIOUS_RELEASE` moves to the new last migrations.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from autommate.accounts.models import User
from autommate.audit.models import AuditEvent
from autommate.delivery.models import OutgoingMessage
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import encrypt
from autommate.recovery.models import ForgotPasswordSettings

PREVIOUS_RELEASE = [
    ("accounts", "0003_user_session_generation"),
    ("audit", "0005_invitation_events"),
    ("delivery", "0006_mail_alert_kind"),
    ("mailserver", "0006_ehlo_name"),
    ("ratelimits", "0002_sliding_windows"),
    ("recovery", "0002_link_kinds_and_invitations"),
]
# Installations skip releases: the one before the previous must come forward in one step too.
RELEASE_BEFORE = [
    ("accounts", "0003_user_session_generation"),
    ("audit", "0004_login_labels"),
    ("delivery", "0001_initial"),
    ("mailserver", "0004_sender_name_in_fingerprint"),
    ("ratelimits", "0002_sliding_windows"),
    ("recovery", "0001_initial"),
]
PASSWORD = "correct horse battery staple admin"
SMTP_PASSWORD = "s3cret-pass"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "release", [PREVIOUS_RELEASE, RELEASE_BEFORE], ids=["previous", "one-before"]
)
def test_an_installation_of_an_earlier_release_migrates_with_its_data(
    release: list[tuple[str, str]],
) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(release)
    old = executor.loader.project_state(release).apps
    admin = old.get_model("accounts", "User").objects.create(
        email="Ada@Example.org",
        email_key="ada@example.org",
        full_name="Ada Admin",
        role="admin",
        password=make_password(PASSWORD),
        is_active=True,
    )
    old.get_model("mailserver", "MailServerSettings").objects.create(
        pk=1,
        host="smtp.example.org",
        port=587,
        protocol="smtp",
        use_tls=True,
        sender_name="Autom Mate",
        sender_email="noreply@example.org",
        use_auth=True,
        username="mailer",
        password_encrypted=encrypt(SMTP_PASSWORD),
    )
    old.get_model("recovery", "ForgotPasswordSettings").objects.create(
        pk=1, enabled=True, link_lifetime_minutes=30
    )
    old.get_model("delivery", "OutgoingMessage").objects.create(
        kind="password_changed",
        recipient="ada@example.org",
        user_id=admin.pk,
        next_attempt_at=timezone.now(),
    )
    old.get_model("audit", "AuditEvent").objects.create(
        action="sign_in", actor_id=admin.pk, actor_label="ada@example.org"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    user = User.objects.get(email_key="ada@example.org")
    assert user.check_password(PASSWORD)
    assert user.is_admin
    # No Language of their own (pages and mails as before), and found by the users list.
    assert user.language == ""
    assert (user.email_search, user.full_name_search) == ("ada@example.org", "ada admin")
    assert MailServerSettings.objects.get(pk=1).password() == SMTP_PASSWORD
    assert ForgotPasswordSettings.objects.get(pk=1).link_lifetime_minutes == 30
    assert OutgoingMessage.objects.get().recipient == "ada@example.org"
    assert AuditEvent.objects.get().actor == user
    assert not MigrationExecutor(connection).migration_plan(executor.loader.graph.leaf_nodes())
