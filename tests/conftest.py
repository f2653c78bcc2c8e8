from __future__ import annotations

import pytest
from django.test import Client

from autommate.accounts.models import Role, User

pytest_plugins = ["tests.smtp_server", "tests.oauth_provider"]

ADMIN_PASSWORD = "correct horse battery staple admin"
USER_PASSWORD = "correct horse battery staple user"


@pytest.fixture(autouse=True)
def _real_mailers(settings) -> None:
    """Django's test setup swaps every mailer for locmem; the product sends through its own."""
    settings.MAILERS = {
        "default": {"BACKEND": "autommate.mailserver.backend.MailServerBackend"},
        "last_working": {"BACKEND": "autommate.mailserver.backend.LastWorkingBackend"},
    }


@pytest.fixture(autouse=True)
def _no_access_tokens_from_other_tests() -> None:
    """The access tokens of OAuth 2.0 logins are kept per process; each test starts without."""
    from autommate.mailserver.tokens import CACHE

    CACHE.clear()


@pytest.fixture(autouse=True)
def _no_last_working_settings_remembered_from_other_tests() -> None:
    """Which settings were last seen working is remembered per process; each test starts afresh."""
    from autommate.mailserver.receivers import CHECKED

    CHECKED.clear()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings) -> None:
    """Rate-limit counters in Redis outlive a test's transaction; start each test without any."""
    if settings.REDIS_URL:
        from autommate.ratelimits.services import _redis

        _redis(settings.REDIS_URL).flushdb()


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
    """Run every background task that is due now, in this process, as a worker would.

    django-tasks-db's worker loop closes database connections between tasks, which would
    close the test's transaction; this runs the same task runner without the loop.
    """
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )

    def run_due(limit: int = 1000) -> int:
        ran = 0
        while ran < limit:
            task = DBTaskResult.objects.ready().order_by("enqueued_at").first()
            if task is None:
                return ran
            task.claim(worker.worker_id)
            worker.run_task(task)
            ran += 1
        raise AssertionError(f"More than {limit} tasks ran; is a task re-enqueueing itself?")

    return run_due


@pytest.fixture
def limits_off(settings) -> None:
    """Switch the forgot-password limits off where a test sends many requests on purpose."""
    settings.LIMIT_RESET_PER_CLIENT = "off"
    settings.LIMIT_RESET_PER_ADDRESS = "off"


def point_mail_settings_at(server) -> None:
    """Save verified mail settings that send through `server`."""
    from autommate.mailserver.models import MailServerSettings

    mail_server = MailServerSettings.objects.get(pk=1)
    mail_server.host, mail_server.port = server.host, server.port
    mail_server.verified_fingerprint = mail_server.fingerprint()
    mail_server.save()
