"""The administrators' Forgot Password settings page."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_settings_page_has_a_title_of_its_own(admin_client: Client) -> None:
    page = admin_client.get("/settings/forgot-password/").content.decode()

    assert "<title>Forgot Password settings · Autom Mate</title>" in page
    assert "<h1>Forgot Password</h1>" in page


def test_refused_enable_shows_the_switch_off_beside_the_reason(admin_client: Client) -> None:
    response = admin_client.post(
        "/settings/forgot-password/", {"enabled": "on", "link_lifetime_minutes": "45"}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    page = response.content.decode()
    (checkbox,) = re.findall(r'<input[^>]*name="enabled"[^>]*>', page)
    assert "checked" not in checkbox
    assert 'aria-invalid="true"' in checkbox
    assert '<span class="badge">Off</span>' in page
    # What else was typed stays.
    assert re.search(r'name="link_lifetime_minutes"[^>]*value="45"', page)
