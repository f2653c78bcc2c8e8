"""Installations verified before OAuth 2.0 existed stay verified; any change to a login unverifies.

The migration that added the authentication methods runs here for real, on a database holding
settings that were verified with a password.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import encrypt

BEFORE = [("mailserver", "0001_initial")]
AFTER = [("mailserver", "0002_oauth_login")]


def _fingerprint_as_released(values: dict[str, object]) -> str:
    """The fingerprint of mail settings as the first release computed it, word for word."""
    payload = json.dumps(values, sort_keys=True).encode()
    key = hashlib.sha256(b"mail-server-fingerprint:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_settings_verified_with_a_password_stay_verified_after_the_upgrade() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("mailserver", "MailServerSettings")
    released = _fingerprint_as_released(
        {
            "host": "smtp.example.org",
            "port": 587,
            "protocol": "smtp",
            "use_tls": True,
            "sender_email": "noreply@example.org",
            "use_auth": True,
            "username": "mailer",
            "password": "s3cret-pass",
            "ca_certificate": "",
        }
    )
    old.objects.create(
        pk=1,
        host="smtp.example.org",
        port=587,
        protocol="smtp",
        use_tls=True,
        sender_name="Autom Mate",
        sender_email="noreply@example.org",
        use_auth=True,
        username="mailer",
        password_encrypted=encrypt("s3cret-pass"),
        verified_fingerprint=released,
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    upgraded = MailServerSettings.objects.get(pk=1)
    assert upgraded.auth_method == "password"
    assert upgraded.is_verified
    assert upgraded.password() == "s3cret-pass"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("auth_method", "google-service-account"),
        ("token_url", "https://login.microsoftonline.com/fabrikam/oauth2/v2.0/token"),
        ("client_id", "another-client"),
        ("scope", "https://outlook.office.com/.default"),
        ("username", "other@example.org"),
        ("client_secret_encrypted", "new"),
    ],
)
def test_any_change_to_an_oauth_login_makes_the_settings_unverified(field: str, value: str) -> None:
    mail_server = MailServerSettings.objects.create(
        pk=1,
        host="smtp.office365.com",
        sender_email="noreply@example.org",
        use_auth=True,
        auth_method="oauth2",
        username="noreply@example.org",
        token_url="https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
        client_id="client",
        client_secret_encrypted=encrypt("secret"),
        scope="https://outlook.office365.com/.default",
    )
    mail_server.verified_fingerprint = mail_server.fingerprint()
    assert mail_server.is_verified

    setattr(mail_server, field, encrypt(value) if field.endswith("_encrypted") else value)

    assert not mail_server.is_verified
