"""The verified fingerprint covers the sender name: installations verified before stay verified,
except those whose sender name no mail can carry, and a changed sender name unverifies.

The migration runs here for real, on a database holding settings verified by an earlier release.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from autommate.mailserver.fingerprints import released_values, settings_fingerprint
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import encrypt

BEFORE = [("mailserver", "0003_allow_insecure_login")]
AFTER = [("mailserver", "0004_sender_name_in_fingerprint")]


def _upgrade(**fields: object) -> MailServerSettings:
    """Save verified settings as the release before stored them, upgrade, and return them."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("mailserver", "MailServerSettings")
    values: dict[str, object] = {
        "host": "smtp.example.org",
        "port": 587,
        "protocol": "smtp",
        "use_tls": True,
        "sender_email": "noreply@example.org",
        "use_auth": True,
        "username": "mailer",
        "password_encrypted": encrypt("s3cret-pass"),
    }
    row = old(pk=1, **(values | fields))
    released = released_values(row, {"password": "s3cret-pass"})
    if row.allow_insecure_login:
        released["allow_insecure_login"] = True
    row.verified_fingerprint = settings_fingerprint(released)
    row.save()

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    return MailServerSettings.objects.get(pk=1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fields",
    [
        {"sender_name": "Autom Mate"},
        {"sender_name": "Ops Team", "use_tls": False, "allow_insecure_login": True},
    ],
    ids=["tls", "allowed-without-tls"],
)
def test_verified_settings_stay_verified_after_the_upgrade(fields: dict[str, object]) -> None:
    upgraded = _upgrade(**fields)

    assert upgraded.is_verified
    assert upgraded.sender_name == fields["sender_name"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["Autom\u2028Mate", "Autom\x0bMate", "Autom\x85Mate"])
def test_a_sender_name_no_mail_can_carry_is_not_verified_after_the_upgrade(name: str) -> None:
    upgraded = _upgrade(sender_name=name)

    assert not upgraded.is_verified


@pytest.mark.django_db
def test_changing_the_sender_name_makes_the_settings_unverified() -> None:
    mail_server = MailServerSettings.objects.create(
        pk=1, host="smtp.example.org", sender_email="noreply@example.org", sender_name="Autom Mate"
    )
    mail_server.verified_fingerprint = mail_server.fingerprint()
    assert mail_server.is_verified

    mail_server.sender_name = "Autom Mate Support"

    assert not mail_server.is_verified
