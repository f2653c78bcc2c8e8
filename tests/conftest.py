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


@pytest.fixture
def configured_mail_server(db, smtp_server):
    """Saved, verified mail settings pointing at the plain test SMTP server."""
    from autommate.mailserver.models import MailServerSettings

    mail_server = MailServerSettings(
        pk=1,
        host=smtp_server.host,
        port=smtp_server.port,
        protocol="smtp",
        use_tls=False,
        sender_name="Autom Mate",
        sender_email="noreply@example.org",
    )
    mail_server.verified_fingerprint = mail_server.fingerprint()
    mail_server.save()
    return mail_server


@pytest.fixture
def forgot_password_on(configured_mail_server):
    from autommate.recovery.models import ForgotPasswordSettings

    return ForgotPasswordSettings.objects.create(pk=1, enabled=True, link_lifetime_minutes=60)


@pytest.fixture
def run_worker():
    """Run every background task that is due now, in this process, as a worker would."""
    from autommate.delivery.worker import run_worker as run

    def run_due() -> None:
        run(batch=True, interval=0)

    return run_due
