"""A list of users costs the same number of queries however many of them are invited."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autommate.accounts.models import User
from autommate.recovery.models import LinkKind, ResetLink
from autommate.recovery.services import invitation_send
from tests.api.conftest import ApiClient, token_for

pytestmark = pytest.mark.django_db


def invite(count: int, *, start: int) -> None:
    """Add `count` users without a password and send each an invitation; expire every other."""
    for number in range(start, start + count):
        user = User.objects.create_user(f"invited{number:02d}@example.org")
        link = invitation_send(user=user)
        if number % 2:
            ResetLink.objects.filter(pk=link.pk).update(
                expires_at=timezone.now() - timedelta(minutes=1)
            )


def queries(read: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        read()
    return len(captured.captured_queries)


def read_page(client: Client) -> Callable[[], object]:
    def read() -> object:
        response = client.get("/users/")
        assert response.status_code == 200
        return response

    return read


def read_api(api: ApiClient) -> Callable[[], object]:
    def read() -> object:
        response = api.get("/users", {"page_size": 100})
        assert response.status_code == 200
        return response.json()

    return read


def read_command() -> object:
    out = io.StringIO()
    call_command("users", "list", "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("front_door", ["page", "api", "command"])
def test_listing_users_costs_the_same_queries_however_many_are_invited(
    front_door: str, configured_mail_server, admin_user: User, admin_client: Client
) -> None:
    read = {
        "page": read_page(admin_client),
        "api": read_api(ApiClient(token=token_for(admin_user))),
        "command": read_command,
    }[front_door]
    invite(2, start=0)
    read()  # Sessions, caches and the like settle on the first request.
    with_two = queries(read)

    invite(8, start=2)
    with_ten = queries(read)

    assert with_ten == with_two


def test_the_api_list_still_says_who_is_invited_and_until_when(
    configured_mail_server, admin_user: User
) -> None:
    invite(2, start=0)

    listed = read_api(ApiClient(token=token_for(admin_user)))()
    items = {item["email"]: item for item in listed["items"]}  # type: ignore[index]

    waiting = ResetLink.objects.get(user__email="invited00@example.org", kind=LinkKind.INVITATION)
    assert items["invited00@example.org"]["status"] == "invited"
    assert items["invited00@example.org"]["invitation_expires_at"] is not None
    assert (
        items["invited00@example.org"]["invitation_expires_at"][:19]
        == waiting.expires_at.isoformat()[:19]
    )
    assert items["invited01@example.org"]["status"] == "invitation_expired"
    assert items["admin@example.org"]["status"] == "active"
    assert items["admin@example.org"]["invitation_expires_at"] is None
