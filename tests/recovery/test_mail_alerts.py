"""Administrators are told when account mails fail for good: banner, mail and settings page."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.delivery import services
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.recovery.alerts import mail_failing
from tests.conftest import USER_PASSWORD, point_mail_settings_at
from tests.smtp_server import SENDER_NOT_OWNED, SMTPServerFactory, SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]


def _notice(email: str) -> OutgoingMessage:
    user = User.objects.filter(email=email).first() or User.objects.create_user(
        email, USER_PASSWORD
    )
    return services.message_record(
        kind=Kind.PASSWORD_CHANGED,
        recipient=email,
        user=user,
        context={"changed_at": timezone.now().isoformat(), "client_address": "192.0.2.1"},
    )


def _break_mail(factory: SMTPServerFactory) -> SMTPTestServer:
    """Move the saved mail settings to a server that refuses the sender for the login."""
    broken = factory(rcpt_reply=SENDER_NOT_OWNED)
    point_mail_settings_at(broken)
    return broken


def test_no_alert_while_mail_gets_through(
    admin_client: Client, forgot_password_on, smtp_server: SMTPTestServer, run_worker
) -> None:
    _notice("mike@example.org")
    run_worker()
    smtp_server.wait_for(1)

    assert mail_failing() is None
    page = admin_client.get("/users/").content.decode()
    assert "Mail is failing" not in page
    settings_page = admin_client.get("/settings/forgot-password/").content.decode()
    assert "Getting through" in settings_page


def test_failing_mail_shows_a_banner_on_every_admin_page_and_on_the_settings(
    admin_client: Client,
    user_client: Client,
    forgot_password_on,
    smtp_server_factory: SMTPServerFactory,
    run_worker,
) -> None:
    _break_mail(smtp_server_factory)
    _notice("mike@example.org")
    run_worker()

    state = mail_failing()
    assert state is not None
    assert state.failed == 1
    assert state.last_step == "Recipient accepted"
    for path in ("/users/", "/settings/mail/", "/settings/mail/log/", "/settings/audit/"):
        response = admin_client.get(path)
        assert response.status_code == HTTPStatus.OK, path
        page = response.content.decode()
        assert "Mail is failing" in page, path
        assert "send as the sender email" in page, path
    settings_page = admin_client.get("/settings/forgot-password/").content.decode()
    assert "Failing" in settings_page
    assert "while Forgot Password is on and tells users a mail was sent" in settings_page
    # Users never see it.
    assert "Mail is failing" not in user_client.get("/account/").content.decode()


def test_administrators_get_one_mail_through_the_path_that_worked(
    admin_user: User,
    forgot_password_on,
    smtp_server: SMTPTestServer,
    smtp_server_factory: SMTPServerFactory,
    run_worker,
) -> None:
    _notice("mike@example.org")
    run_worker()
    smtp_server.wait_for(1)
    smtp_server.rcpt_reply = SENDER_NOT_OWNED
    _notice("mike@example.org")
    _notice("ann@example.org")
    services.deliver_due(max_messages=2)
    # Two failures, one alert, queued to go through the saved server, which takes it once
    # the refusal is lifted.
    assert OutgoingMessage.objects.filter(kind=Kind.MAIL_ALERT).count() == 1
    smtp_server.rcpt_reply = ""
    run_worker()

    alerts = OutgoingMessage.objects.filter(kind=Kind.MAIL_ALERT)
    assert [(a.recipient, a.state) for a in alerts] == [(admin_user.email, State.SENT)]
    received = smtp_server.wait_for(2)
    alert = received[-1]
    assert alert["To"] == admin_user.email
    assert "failing" in alert["Subject"]
    body = alert.get_body(("plain",))
    assert body is not None
    assert "/settings/mail/" in body.get_content()


def test_no_alert_mail_where_mail_never_got_through(
    admin_user: User, forgot_password_on, smtp_server_factory: SMTPServerFactory, run_worker
) -> None:
    _break_mail(smtp_server_factory)
    _notice("mike@example.org")
    run_worker()

    assert mail_failing() is not None
    assert not OutgoingMessage.objects.filter(kind=Kind.MAIL_ALERT).exists()


def test_a_successful_test_mail_ends_the_alert(
    admin_client: Client,
    forgot_password_on,
    smtp_server: SMTPTestServer,
    smtp_server_factory: SMTPServerFactory,
    run_worker,
) -> None:
    _break_mail(smtp_server_factory)
    _notice("mike@example.org")
    run_worker()
    assert mail_failing() is not None

    smtp_server.save_settings()
    admin_client.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})

    assert mail_failing() is None
    assert "Mail is failing" not in admin_client.get("/users/").content.decode()


def test_an_unknown_recipient_is_no_alert(
    forgot_password_on, smtp_server_factory: SMTPServerFactory, run_worker
) -> None:
    server = smtp_server_factory(reject_recipients=["gone@example.org"])
    point_mail_settings_at(server)
    _notice("gone@example.org")
    run_worker()

    assert OutgoingMessage.objects.get().state == State.FAILED
    assert mail_failing() is None
