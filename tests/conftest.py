from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from autommate.accounts.models import Role, User

ADMIN_PASSWORD = "correct horse battery staple admin"
USER_PASSWORD = "correct horse battery staple user"


@pytest.fixture(autouse=True)
def _real_mailers(settings) -> Iterator[None]:
    """Django's test setup swaps every mailer for locmem; the product sends through its own."""
    settings.MAILERS = {"default": {"BACKEND": "autommate.mailserver.backend.MailServerBackend"}}
    yield


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_user(
        "admin@example.org", ADMIN_PASSWORD, full_name="Ada Admin", role=Role.ADMINISTRATOR
    )


@pytest.fixture
def regular_user(db) -> User:
    return User.objects.create_user("mike@example.org", USER_PASSWORD, full_name="Mike User")


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def user_client(regular_user: User) -> Client:
    client = Client()
    client.force_login(regular_user)
    return client
