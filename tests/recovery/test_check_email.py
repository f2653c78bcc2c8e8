"""The "Check your email" page after a forgot-password request, and the page of a refused one."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import signing
from django.test import Client

from autommate.recovery.models import ResetRequest
from autommate.recovery.views import (
    ADDRESS_COOKIE,
    ADDRESS_COOKIE_MAX_AGE_SECONDS,
    ADDRESS_COOKIE_SALT,
)

pytestmark = pytest.mark.django_db

ADDRESS = "dana.smith@example.org"


def test_request_leads_to_check_your_email_naming_the_address(forgot_password_on) -> None:
    client = Client()

    response = client.post("/forgot-password/", {"email": ADDRESS}, follow=True)

    assert response.redirect_chain == [("/forgot-password/check-email/", HTTPStatus.FOUND)]
    page = response.content.decode()
    assert "<h1>Check your email</h1>" in page
    assert ADDRESS in page
    assert f"expires in {forgot_password_on.link_lifetime_minutes} minutes" in page
    assert "check your spam folder" in page
    assert "Send the link again" in page


def test_address_is_never_in_the_url(forgot_password_on) -> None:
    response = Client().post("/forgot-password/", {"email": ADDRESS})

    assert ADDRESS not in response["Location"]
    assert "dana" not in response["Location"]


def test_send_again_asks_for_another_link_to_the_same_address(forgot_password_on) -> None:
    client = Client()
    client.post("/forgot-password/", {"email": ADDRESS})

    again = client.post("/forgot-password/", {"email": ADDRESS})

    assert again["Location"] == "/forgot-password/check-email/"
    assert list(ResetRequest.objects.values_list("address", flat=True)) == [ADDRESS, ADDRESS]


def test_check_your_email_without_a_request_goes_to_the_form(forgot_password_on) -> None:
    response = Client().get("/forgot-password/check-email/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/forgot-password/"


def test_refused_request_says_a_mail_may_be_on_its_way(forgot_password_on, settings) -> None:
    settings.LIMIT_RESET_PER_ADDRESS = "1/h"
    client = Client()
    client.post("/forgot-password/", {"email": ADDRESS})

    refused = client.post("/forgot-password/", {"email": ADDRESS})

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    page = refused.content.decode()
    assert "may already be on its way" in page
    assert "Too many requests" not in page
    assert ResetRequest.objects.count() == 1


def test_request_from_a_browser_without_a_session_stores_no_session(forgot_password_on) -> None:
    client = Client()

    response = client.post("/forgot-password/", {"email": ADDRESS})

    assert response.status_code == HTTPStatus.FOUND
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert not Session.objects.exists()
    assert ADDRESS in client.get("/forgot-password/check-email/").content.decode()


def test_address_cookie_is_signed_http_only_and_for_forgot_password_pages_only(
    forgot_password_on,
) -> None:
    response = Client().post("/forgot-password/", {"email": ADDRESS})

    cookie = response.cookies[ADDRESS_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/forgot-password/"
    assert cookie["max-age"] == ADDRESS_COOKIE_MAX_AGE_SECONDS
    assert signing.loads(cookie.value, salt=ADDRESS_COOKIE_SALT) == ADDRESS


@pytest.mark.parametrize(
    "forged",
    [
        signing.dumps("victim@example.org", salt="another.purpose"),
        signing.dumps(ADDRESS, salt=ADDRESS_COOKIE_SALT)[:-2] + "xx",
        "victim@example.org",
    ],
    ids=["signed-for-another-purpose", "signature-altered", "unsigned"],
)
def test_forged_address_cookie_shows_no_address(forgot_password_on, forged: str) -> None:
    client = Client()
    client.cookies[ADDRESS_COOKIE] = forged

    response = client.get("/forgot-password/check-email/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/forgot-password/"
