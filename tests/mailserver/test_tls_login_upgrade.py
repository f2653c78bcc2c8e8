"""Installations that log in without TLS keep working, and stay verified, after the upgrade that
refuses such logins unless allowed.

The migration runs here for real, on a database holding verified settings of an earlier release.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from autommate.mailserver.fingerprints import released_values, settings_fingerprint
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import encrypt

BEFORE = [("mailserver", "0002_oauth_login")]
AFTER = [("mailserver", "0003_allow_insecure_login")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("protocol", "use_tls", "use_auth", "allowed"),
    [
        ("smtp", False, True, True),
        ("smtp", True, True, False),
        ("smtps", False, True, False),
        ("smtp", False, False, False),
    ],
    ids=["login-without-tls", "starttls", "smtps", "no-login"],
)
def test_settings_that_log_in_without_tls_keep_working_and_stay_verified(
    protocol: str, use_tls: bool, use_auth: bool, allowed: bool
) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("mailserver", "MailServerSettings")
    row = old(
        pk=1,
        host="relay.example.org",
        port=25 if protocol == "smtp" else 465,
        protocol=protocol,
        use_tls=use_tls,
        sender_name="Autom Mate",
        sender_email="noreply@example.org",
        use_auth=use_auth,
        username="mailer" if use_auth else "",
        password_encrypted=encrypt("s3cret-pass") if use_auth else "",
    )
    secrets = {"password": "s3cret-pass"} if use_auth else {}
    row.verified_fingerprint = settings_fingerprint(released_values(row, secrets))
    row.save()

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    upgraded = MailServerSettings.objects.get(pk=1)
    assert upgraded.allow_insecure_login is allowed
    assert upgraded.is_verified


@pytest.mark.django_db
def test_allowing_sign_in_without_tls_makes_the_settings_unverified() -> None:
    mail_server = MailServerSettings.objects.create(
        pk=1,
        host="relay.example.org",
        port=25,
        use_tls=False,
        sender_email="noreply@example.org",
        use_auth=True,
        username="mailer",
        password_encrypted=encrypt("s3cret-pass"),
    )
    mail_server.verified_fingerprint = mail_server.fingerprint()
    assert mail_server.is_verified

    mail_server.allow_insecure_login = True

    assert not mail_server.is_verified
