"""Invitations and reset links sent by administrators: pages, rules and audit, with a real SMTP
server receiving the mail."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.accounts.selectors import Status, user_status
from autommate.audit.models import Action, AuditEvent
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.recovery.models import ForgotPasswordSettings, LinkKind, ResetLink
from autommate.recovery.selectors import token_hash

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase for nina"
INVITATION = re.compile(r"http://127\.0\.0\.1:8000/invitation/[A-Za-z0-9_-]+/")
RESET = re.compile(r"http://127\.0\.0\.1:8000/reset-password/[A-Za-z0-9_-]+/")


def link_in(message, pattern: re.Pattern[str]) -> str:
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    links = set(pattern.findall(html)) | set(pattern.findall(text))
    assert len(links) == 1, links
    link: str = links.pop()
    return link.removeprefix("http://127.0.0.1:8000")


def add_user(admin_client: Client, **fields: object):
    data: dict[str, object] = {"email": "nina@example.org", "full_name": "Nina New"}
    data["role"] = "user"
    data.update({"is_active": "on", "send_invitation": "on"})
    data.update(fields)
    return admin_client.post("/users/add/", data, follow=True)


def invited(admin_client, smtp_server, run_worker) -> tuple[User, str]:
    add_user(admin_client)
    run_worker()
    (message,) = smtp_server.wait_for(1)
    return User.objects.get(email="nina@example.org"), link_in(message, INVITATION)


def set_password(client: Client, path: str, password: str = NEW_PASSWORD):
    opened = client.get(path)
    assert opened.status_code == HTTPStatus.FOUND, opened.content.decode()
    assert opened["Location"] == "/invitation/"
    return client.post(
        "/invitation/",
        {"new_password1": password, "new_password2": password},
        follow=True,
    )


def test_add_user_offers_send_invitation_checked(admin_client) -> None:
    page = admin_client.get("/users/add/").content.decode()
    assert re.search(r'<input type="checkbox" name="send_invitation"[^>]* checked', page)
    assert ">Send invitation</label>" in page


def test_invitation_with_forgot_password_off_lets_the_user_in(
    admin_client, configured_mail_server, smtp_server, run_worker
) -> None:
    assert not ForgotPasswordSettings.objects.filter(enabled=True).exists()
    page = add_user(admin_client).content.decode()
    assert "an invitation has been sent" in page
    user = User.objects.get(email="nina@example.org")
    assert user_status(user=user).status == Status.INVITED

    run_worker()
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "nina@example.org"
    assert message["From"] == "Autom Mate <noreply@example.org>"
    assert ">Set password</a>" in message.get_body(("html",)).get_content()
    path = link_in(message, INVITATION)
    assert OutgoingMessage.objects.get(kind=Kind.INVITATION).state == State.SENT

    client = Client()
    form = client.get(client.get(path)["Location"]).content.decode()
    for label in ("New password", "Confirm new password"):
        assert f">{label}</label>" in form
    done = set_password(client, path)
    assert done.redirect_chain[-1][0] == "/login/"
    assert "Your password has been set" in done.content.decode()
    assert client.login(username="nina@example.org", password=NEW_PASSWORD)
    user.refresh_from_db()
    assert user_status(user=user).status == Status.ACTIVE
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {Action.INVITATION_SENT, Action.INVITATION_USED} <= actions
    # An invitation sets a first password: no "password changed" notice follows.
    assert not OutgoingMessage.objects.filter(kind=Kind.PASSWORD_CHANGED).exists()


def test_invitation_is_stored_only_as_a_hash(
    admin_client, configured_mail_server, smtp_server, run_worker
) -> None:
    _user, path = invited(admin_client, smtp_server, run_worker)
    token = path.split("/")[2]
    link = ResetLink.objects.get(kind=LinkKind.INVITATION)
    assert link.token_hash == token_hash(token)
    assert token not in str(OutgoingMessage.objects.get(kind=Kind.INVITATION).context)


def test_invitation_works_once(
    admin_client, configured_mail_server, smtp_server, run_worker
) -> None:
    _user, path = invited(admin_client, smtp_server, run_worker)
    set_password(Client(), path)

    again = Client().get(path)
    assert again.status_code == HTTPStatus.NOT_FOUND
    assert "invitation link is invalid or has expired" in again.content.decode()


def test_expired_invitation_is_refused_shown_and_audited(
    admin_client, configured_mail_server, smtp_server, run_worker
) -> None:
    user, path = invited(admin_client, smtp_server, run_worker)
    ResetLink.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(minutes=1))

    opened = Client().get(path)
    assert opened.status_code == HTTPStatus.NOT_FOUND
    assert AuditEvent.objects.filter(action=Action.INVITATION_EXPIRED, target=user.email).exists()
    listing = admin_client.get("/users/").content.decode()
    assert "Invitation expired" in listing
    assert "Resend invitation" in listing


def test_resend_voids_the_older_invitation(
    admin_client, configured_mail_server, smtp_server, run_worker
) -> None:
    user, first = invited(admin_client, smtp_server, run_worker)
    resent = admin_client.post(f"/users/{user.pk}/invitation/", {"back": "list"}, follow=True)
    assert "An invitation has been sent" in resent.content.decode()
    run_worker()
    second = link_in(smtp_server.wait_for(2)[1], INVITATION)

    assert Client().get(first).status_code == HTTPStatus.NOT_FOUND
    assert set_password(Client(), second).redirect_chain[-1][0] == "/login/"
    assert AuditEvent.objects.filter(action=Action.INVITATION_RESENT).count() == 1


@pytest.mark.parametrize("change", [{"is_active": False}, {"email": "nina.n@example.org"}])
def test_deactivation_or_email_change_voids_the_invitation(
    admin_client, configured_mail_server, smtp_server, run_worker, change
) -> None:
    from autommate.accounts.services import user_update

    user, path = invited(admin_client, smtp_server, run_worker)
    user_update(user=user, **change)
    if "is_active" in change:
        user_update(user=user, is_active=True)  # Undoing it does not revive the link.

    assert Client().get(path).status_code == HTTPStatus.NOT_FOUND


def test_unverified_mail_refuses_the_invitation_but_adds_the_user(
    admin_client, smtp_server, run_worker
) -> None:
    page = add_user(admin_client).content.decode()

    assert User.objects.filter(email="nina@example.org").exists()
    assert "has been added, but no invitation was sent" in page
    assert "Configure the mail server first" in page
    assert not ResetLink.objects.exists()
    assert not OutgoingMessage.objects.exists()


def test_user_with_a_password_gets_no_invitation(
    admin_client, configured_mail_server, smtp_server, run_worker
) -> None:
    add_user(admin_client, password="a long enough first passphrase")
    run_worker()
    assert not OutgoingMessage.objects.exists()
    user = User.objects.get(email="nina@example.org")
    refused = admin_client.post(f"/users/{user.pk}/invitation/", follow=True).content.decode()
    assert "has a password already" in refused


def test_users_list_shows_invited_active_and_deactivated(
    admin_client, admin_user, configured_mail_server, smtp_server, run_worker
) -> None:
    from autommate.accounts.services import user_create, user_deactivate

    add_user(admin_client)
    gone = user_create(email="gone@example.org", password="a long enough gone passphrase")
    user_deactivate(user=gone, actor=admin_user)

    listing = admin_client.get("/users/").content.decode()
    assert ">Invited</span>" in listing
    assert "expires " in listing
    assert ">Active</span>" in listing
    assert ">Deactivated</span>" in listing


def test_administrator_sends_a_reset_link_with_forgot_password_off(
    admin_client, admin_user, regular_user, configured_mail_server, smtp_server, run_worker
) -> None:
    page = admin_client.get(f"/users/{regular_user.pk}/").content.decode()
    assert "Send password reset link" in page
    sent = admin_client.post(f"/users/{regular_user.pk}/password-reset/", follow=True)
    assert "A password reset link has been sent" in sent.content.decode()
    run_worker()
    (message,) = smtp_server.wait_for(1)
    path = link_in(message, RESET)
    assert path not in sent.content.decode()
    assert "An administrator sent you" in message.get_body(("plain",)).get_content()

    client = Client()
    assert client.get(path)["Location"] == "/reset-password/"
    done = client.post(
        "/reset-password/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == "/login/"
    assert client.login(username=regular_user.email, password=NEW_PASSWORD)
    event = AuditEvent.objects.get(action=Action.RESET_LINK_SENT)
    assert event.actor == admin_user
    assert event.target == regular_user.email


def test_administrator_sent_links_are_rate_limited_like_requests(
    admin_client, regular_user, configured_mail_server, settings
) -> None:
    settings.LIMIT_RESET_PER_ADDRESS = "1/h"
    admin_client.post(f"/users/{regular_user.pk}/password-reset/")

    refused = admin_client.post(f"/users/{regular_user.pk}/password-reset/", follow=True)

    assert "No reset link was sent: Too many links" in refused.content.decode()
    assert ResetLink.objects.count() == 1


def test_switching_forgot_password_off_keeps_administrator_sent_links(
    admin_client, regular_user, forgot_password_on, smtp_server, run_worker
) -> None:
    from autommate.recovery.services import forgot_password_configure

    admin_client.post(f"/users/{regular_user.pk}/password-reset/")
    run_worker()
    path = link_in(smtp_server.wait_for(1)[0], RESET)
    forgot_password_configure(enabled=False, link_lifetime_minutes=60)

    assert Client().get(path)["Location"] == "/reset-password/"


def test_invitation_lifetime_is_set_on_the_forgot_password_page(admin_client) -> None:
    page = admin_client.get("/settings/forgot-password/").content.decode()
    assert ">Invitation lifetime (days)</label>" in page
    for days, ok in ((0, False), (1, True), (30, True), (31, False)):
        response = admin_client.post(
            "/settings/forgot-password/",
            {"link_lifetime_minutes": 60, "invitation_lifetime_days": days},
        )
        assert (response.status_code == HTTPStatus.FOUND) is ok, days
    assert ForgotPasswordSettings.objects.get(pk=1).invitation_lifetime_days == 30


def test_commands_invite_and_send_reset(
    admin_user, regular_user, configured_mail_server, smtp_server, run_worker
) -> None:
    from io import StringIO

    from django.core.management import call_command

    from autommate.accounts.services import user_create

    user_create(email="nina@example.org")
    out = StringIO()
    call_command("users", "invite", "Nina@Example.org", stdout=out)
    call_command("users", "send-reset", regular_user.email, stdout=out)

    assert "An invitation has been sent to nina@example.org." in out.getvalue()
    assert "A password reset link has been sent to mike@example.org." in out.getvalue()
    run_worker()
    messages = smtp_server.wait_for(2)
    assert {message["To"] for message in messages} == {"nina@example.org", "mike@example.org"}
    assert AuditEvent.objects.get(action=Action.INVITATION_SENT).actor == admin_user
    assert AuditEvent.objects.get(action=Action.RESET_LINK_SENT).actor == admin_user
