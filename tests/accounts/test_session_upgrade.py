"""Sessions signed in before the session generation existed stay signed in after the upgrade.

The migration that added the generation runs here for real, on a database holding a session
that Django signed in with its own session hash.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils.crypto import salted_hmac

from autommate.accounts.models import User

BEFORE = [("accounts", "0002_apitoken")]
PASSWORD = "correct horse battery staple user"


def _django_session_hash(password_hash: str) -> str:
    """The session hash as Django computes it, which the release before the upgrade used."""
    return salted_hmac(
        "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
        password_hash,
        algorithm="sha256",
    ).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_a_session_signed_in_before_the_upgrade_stays_signed_in() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_user = executor.loader.project_state(BEFORE).apps.get_model("accounts", "User")
    password_hash = make_password(PASSWORD)
    user = old_user.objects.create(
        email="mike@example.org", email_key="mike@example.org", password=password_hash
    )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = _django_session_hash(password_hash)
    session.save()

    # Up to the latest migrations, so that the user model of today can read the row.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert User.objects.get(pk=user.pk).session_generation == 0
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session.session_key or ""
    assert browser.get("/").status_code == HTTPStatus.OK

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
