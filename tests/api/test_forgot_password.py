"""The Forgot Password switch through the API."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from autommate.recovery.selectors import forgot_password_settings_get, mail_not_ready_reason
from tests.api.conftest import ApiClient, assert_error

pytestmark = pytest.mark.django_db


def test_reads_the_switch_and_why_it_cannot_be_on(admin_api: ApiClient) -> None:
    body = admin_api.get("/forgot-password").json()
    assert body == {
        "enabled": False,
        "link_lifetime_minutes": 60,
        "invitation_lifetime_days": 7,
        "mail_ready": False,
        "not_ready_reason": mail_not_ready_reason(),
    }


def test_enabling_while_mail_is_unverified_is_409_with_the_reason(admin_api: ApiClient) -> None:
    response = admin_api.put("/forgot-password", {"enabled": True})
    body = assert_error(response, HTTPStatus.CONFLICT, "mail_not_verified")
    assert body["message"] == mail_not_ready_reason()
    assert forgot_password_settings_get().enabled is False


def test_enabling_with_changed_unconfirmed_settings_is_409(
    admin_api: ApiClient, configured_mail_server
) -> None:
    configured_mail_server.port += 1
    configured_mail_server.save()
    response = admin_api.put("/forgot-password", {"enabled": True})
    body = assert_error(response, HTTPStatus.CONFLICT, "mail_not_verified")
    assert "Confirm the delivery of a test mail" in body["message"]


def test_enabling_with_verified_mail_settings(admin_api: ApiClient, configured_mail_server) -> None:
    response = admin_api.put("/forgot-password", {"enabled": True, "link_lifetime_minutes": 30})
    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["enabled"] is True
    assert response.json()["link_lifetime_minutes"] == 30
    assert forgot_password_settings_get().enabled is True


def test_disabling_keeps_the_lifetime_when_not_given(
    admin_api: ApiClient, forgot_password_on
) -> None:
    response = admin_api.put("/forgot-password", {"enabled": False})
    assert response.json() | {"mail_ready": True} == {
        "enabled": False,
        "link_lifetime_minutes": 60,
        "invitation_lifetime_days": 7,
        "mail_ready": True,
        "not_ready_reason": "",
    }


@pytest.mark.parametrize("minutes", [0, 9, 1441, -5])
def test_link_lifetime_out_of_range_is_400(admin_api: ApiClient, minutes: int) -> None:
    response = admin_api.put(
        "/forgot-password", {"enabled": False, "link_lifetime_minutes": minutes}
    )
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["link_lifetime_minutes"]


def test_switch_needs_enabled(admin_api: ApiClient) -> None:
    body = assert_error(
        admin_api.put("/forgot-password", {"link_lifetime_minutes": 30}),
        HTTPStatus.BAD_REQUEST,
        "validation_failed",
    )
    assert list(body["fields"]) == ["enabled"]
