"""Invitations and administrator-sent reset links through the JSON API."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from autommate.accounts.models import User
from autommate.audit.models import Action, AuditEvent
from autommate.delivery.models import Kind, OutgoingMessage
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_add_user_without_password_sends_an_invitation(
    admin_api: ApiClient, configured_mail_server
) -> None:
    response = admin_api.post("/users", {"email": "nina@example.org"})

    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["invitation_sent"] is True
    assert body["invitation_not_sent_reason"] is None
    assert body["status"] == "invited"
    assert body["invitation_expires_at"]
    assert OutgoingMessage.objects.filter(kind=Kind.INVITATION).count() == 1


def test_send_invitation_false_sends_none(admin_api: ApiClient, configured_mail_server) -> None:
    body = admin_api.post("/users", {"email": "nina@example.org", "send_invitation": False}).json()

    assert body["invitation_sent"] is False
    assert body["status"] == "active"
    assert not OutgoingMessage.objects.exists()


def test_add_user_says_why_no_invitation_went_out(admin_api: ApiClient) -> None:
    response = admin_api.post("/users", {"email": "nina@example.org", "send_invitation": True})

    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["invitation_sent"] is False
    assert "Configure the mail server first" in body["invitation_not_sent_reason"]
    assert User.objects.filter(email="nina@example.org").exists()


def test_invitation_endpoint_resends(admin_api: ApiClient, configured_mail_server) -> None:
    user_id = admin_api.post("/users", {"email": "nina@example.org"}).json()["id"]

    response = admin_api.post(f"/users/{user_id}/invitation")

    assert response.status_code == HTTPStatus.ACCEPTED
    assert response.json()["user"]["status"] == "invited"
    assert AuditEvent.objects.filter(action=Action.INVITATION_RESENT).count() == 1


def test_invitation_refused_while_mail_is_unverified(admin_api: ApiClient) -> None:
    user_id = admin_api.post("/users", {"email": "nina@example.org"}).json()["id"]

    response = admin_api.post(f"/users/{user_id}/invitation")

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "mail_not_verified"


def test_invitation_refused_for_a_user_with_a_password(
    admin_api: ApiClient, regular_user, configured_mail_server
) -> None:
    response = admin_api.post(f"/users/{regular_user.pk}/invitation")

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "cannot_send_link"


def test_password_reset_endpoint_sends_no_link_back(
    admin_api: ApiClient, admin_user, regular_user, configured_mail_server, settings
) -> None:
    response = admin_api.post(f"/users/{regular_user.pk}/password-reset")

    assert response.status_code == HTTPStatus.ACCEPTED
    assert "reset-password/" not in response.content.decode()
    assert AuditEvent.objects.get(action=Action.RESET_LINK_SENT).actor == admin_user

    settings.LIMIT_RESET_PER_ADDRESS = "1/h"
    limited = admin_api.post(f"/users/{regular_user.pk}/password-reset")
    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Retry-After" in limited


def test_unknown_user_is_404(admin_api: ApiClient) -> None:
    assert admin_api.post("/users/999/invitation").status_code == HTTPStatus.NOT_FOUND
    assert admin_api.post("/users/999/password-reset").status_code == HTTPStatus.NOT_FOUND
