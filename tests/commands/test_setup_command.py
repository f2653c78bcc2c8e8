"""`autommate setup` creates the first administrator through the same service as `users add`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from autommate.accounts.models import Role, User
from autommate.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "operator chosen passphrase"


def test_first_administrator_is_recorded_in_the_audit_log(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.org")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    call_command("setup", stdout=StringIO())

    user = User.objects.get(email="ops@example.org")
    assert user.role == Role.ADMINISTRATOR
    assert user.check_password(PASSWORD)
    event = AuditEvent.objects.get(action=Action.USER_CREATED)
    assert event.target == "ops@example.org"
    assert event.actor_label == ""
    assert event.detail["role"] == Role.ADMINISTRATOR


def test_an_invalid_address_is_refused_naming_its_variable(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "not an address")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    with pytest.raises(CommandError, match=r"^DJANGO_SUPERUSER_EMAIL: "):
        call_command("setup", stdout=StringIO())

    assert not User.objects.exists()
