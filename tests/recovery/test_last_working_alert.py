"""The alert to administrators goes through the last mail settings that worked, not through
the saved ones that fail; where there are none, or they fail too, the banner says it is alone.

Two real SMTP servers: A, which took mail, and B, which the settings were changed to and which
refuses every mail for good.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.delivery import services
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.mailserver.models import LastWorkingMailServer
from autommate.mailserver.secrets import decrypt
from autommate.mailserver.selectors import last_working_get, mail_server_get
from autommate.mailserver.services import last_working_keep
from autommate.recovery.alerts import AlertMail, mail_failing
from tests.conftest import USER_PASSWORD
from tests.smtp_server import SENDER_NOT_OWNED, SMTPServerFactory, SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]

SECRET_A = "password-of-server-a-never-in-clear"


def _notice(email: str = "mike@example.org") -> OutgoingMessage:
    user = User.objects.filter(email=email).first() or User.objects.create_user(
        email, USER_PASSWORD
    )
    return services.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=email,
        user=user,
        context={"changed_at": timezone.now().isoformat(), "client_address": "192.0.2.1"},
    )


@pytest.fixture
def server_a(smtp_server_factory: SMTPServerFactory, admin_user: User, run_worker):
    """Server A, saved with a login over STARTTLS, after it accepted a mail."""
    server = smtp_server_factory("starttls", auth=True, username="mailer", password=SECRET_A)
    server.save_settings()
    _notice()
    run_worker()
    server.wait_for(1)
    server.messages.clear()
    return server


@pytest.fixture
def server_b(smtp_server_factory: SMTPServerFactory) -> SMTPTestServer:
    """Server B, refusing every mail for good (553 5.7.1 at RCPT, as Postfix does)."""
    return smtp_server_factory(rcpt_reply=SENDER_NOT_OWNED)


def _switch_to(server: SMTPTestServer) -> None:
    server.save_settings(sender_email="noreply@b.example.org")


def test_the_alert_reaches_the_administrator_through_the_settings_that_worked(
    server_a: SMTPTestServer,
    server_b: SMTPTestServer,
    admin_user: User,
    admin_client: Client,
    run_worker,
) -> None:
    _switch_to(server_b)
    _notice()
    run_worker()

    [failed] = OutgoingMessage.objects.filter(kind=Kind.PASSWORD_CHANGED, state=State.FAILED)
    assert "553 5.7.1" in failed.last_error
    alert_row = OutgoingMessage.objects.get(kind=Kind.MAIL_ALERT)
    assert (alert_row.recipient, alert_row.state) == (admin_user.email, State.SENT)
    [alert] = server_a.wait_for(1)
    assert alert["To"] == admin_user.email
    assert "failing" in alert["Subject"]
    # As the settings that worked sent it: their sender, their login.
    assert "autommate@example.org" in alert["From"]
    assert alert.login == "mailer"
    assert server_b.messages == []
    # The alert's acceptance does not end the alert: the saved settings still fail.
    state = mail_failing()
    assert state is not None
    assert state.alert == AlertMail.SENT
    banner = admin_client.get("/users/").content.decode()
    assert "Mail is failing" in banner
    assert (
        "The administrators were sent an alert mail through the last mail settings that worked "
        f"(localhost:{server_a.port})"
    ) in banner


def test_the_last_working_settings_are_kept_encrypted(server_a: SMTPTestServer) -> None:
    kept = LastWorkingMailServer.objects.get()

    assert SECRET_A not in kept.values_encrypted
    assert "mailer" not in kept.values_encrypted
    assert SECRET_A in decrypt(kept.values_encrypted, name="last working settings")
    assert kept.server == f"localhost:{server_a.port}"
    last = last_working_get()
    assert last is not None
    assert last.secrets == {"password": SECRET_A}
    assert last.fingerprint == mail_server_get().fingerprint()


def test_without_the_encryption_key_there_are_no_last_working_settings(
    server_a: SMTPTestServer, server_b: SMTPTestServer, run_worker, settings
) -> None:
    _switch_to(server_b)  # Saved with the key in use, like B's own secrets would be.
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    assert last_working_get() is None
    _notice()
    run_worker()

    assert not OutgoingMessage.objects.filter(kind=Kind.MAIL_ALERT).exists()


def test_without_settings_that_ever_worked_the_banner_is_the_only_alert(
    server_b: SMTPTestServer, admin_client: Client, run_worker
) -> None:
    _switch_to(server_b)
    _notice()
    run_worker()

    assert not OutgoingMessage.objects.filter(kind=Kind.MAIL_ALERT).exists()
    state = mail_failing()
    assert state is not None
    assert state.alert == AlertMail.NONE
    assert state.banner_only
    page = admin_client.get("/settings/forgot-password/").content.decode()
    assert "No mail settings have delivered a mail yet" in page
    assert "this banner is the only alert" in page


def test_when_the_last_working_settings_fail_too_the_banner_says_so(
    server_a: SMTPTestServer, server_b: SMTPTestServer, admin_client: Client, run_worker
) -> None:
    server_a.rcpt_reply = SENDER_NOT_OWNED
    _switch_to(server_b)
    _notice()
    run_worker()

    alert = OutgoingMessage.objects.get(kind=Kind.MAIL_ALERT)
    assert alert.state == State.FAILED
    state = mail_failing()
    assert state is not None
    assert state.alert == AlertMail.FAILED
    banner = admin_client.get("/users/").content.decode()
    assert "The alert mail to the administrators failed too: this banner is the only alert." in (
        banner
    )


def test_a_mail_sent_with_settings_since_changed_proves_nothing_of_the_new_ones(
    server_a: SMTPTestServer, server_b: SMTPTestServer
) -> None:
    before = mail_server_get().fingerprint()
    _switch_to(server_b)

    assert last_working_keep(sent_through=before) is False
    assert LastWorkingMailServer.objects.get().fingerprint == before
    # Accepted through the new settings: now they are the ones that work.
    after = mail_server_get().fingerprint()
    assert last_working_keep(sent_through=after) is True
    assert LastWorkingMailServer.objects.get().server == f"localhost:{server_b.port}"


def test_an_accepted_test_mail_keeps_the_settings_it_went_through(
    smtp_server: SMTPTestServer, admin_client: Client
) -> None:
    smtp_server.save_settings()
    assert last_working_get() is None

    admin_client.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})

    smtp_server.wait_for(1)
    last = last_working_get()
    assert last is not None
    assert last.server == f"localhost:{smtp_server.port}"


def test_new_settings_are_kept_with_their_first_accepted_mail(
    server_a: SMTPTestServer, smtp_server_factory: SMTPServerFactory, run_worker
) -> None:
    server_c = smtp_server_factory()
    server_c.save_settings()
    _notice()
    run_worker()

    server_c.wait_for(1)
    assert LastWorkingMailServer.objects.get().server == f"localhost:{server_c.port}"
    assert last_working_get() is not None


def test_the_banner_tells_an_alert_on_its_way_and_one_never_sent(
    server_a: SMTPTestServer, server_b: SMTPTestServer, admin_client: Client
) -> None:
    _switch_to(server_b)
    _notice()
    services.deliver_due(max_messages=1)

    state = mail_failing()
    assert state is not None
    assert state.alert == AlertMail.QUEUED
    assert not state.banner_only
    assert "An alert mail to the administrators is on its way" in (
        admin_client.get("/users/").content.decode()
    )

    OutgoingMessage.objects.filter(kind=Kind.MAIL_ALERT).delete()  # As if pruned, or never made.
    state = mail_failing()
    assert state is not None
    assert state.alert == AlertMail.NOT_SENT
    assert "No alert mail has been sent for this outage: this banner is the only alert." in (
        admin_client.get("/users/").content.decode()
    )
