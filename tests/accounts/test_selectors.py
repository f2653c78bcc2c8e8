"""The user search every front door shares: pages, API and the `users` command."""

from __future__ import annotations

from typing import Any

import pytest

from autommate.accounts.models import Role, User
from autommate.accounts.selectors import user_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> None:
    User.objects.create_user("zoe@example.org", full_name="Zoe Admin", role=Role.ADMINISTRATOR)
    User.objects.create_user("bob@example.org", full_name="Bob Builder")
    User.objects.create_user("Carla@Example.org", full_name="Carla Zoeller", is_active=False)


def emails(**filters: Any) -> list[str]:
    return [user.email for user in user_list(**filters)]


def test_without_filters_every_user_comes_by_email(people: None) -> None:
    assert emails() == ["bob@example.org", "Carla@Example.org", "zoe@example.org"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ZOE", ["Carla@Example.org", "zoe@example.org"]),  # in an email or a full name
        ("builder", ["bob@example.org"]),  # in the full name only
        ("example.ORG", ["bob@example.org", "Carla@Example.org", "zoe@example.org"]),
        ("nobody", []),
        (" bob", []),  # matched as given: trimming belongs to the front doors
    ],
)
def test_search_matches_email_or_full_name_in_any_case(
    people: None, search: str, expected: list[str]
) -> None:
    assert emails(search=search) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"role": Role.ADMINISTRATOR}, ["zoe@example.org"]),
        ({"role": Role.USER}, ["bob@example.org", "Carla@Example.org"]),
        ({"is_active": False}, ["Carla@Example.org"]),
        ({"is_active": True, "role": Role.USER}, ["bob@example.org"]),
        ({"search": "zoe", "is_active": True}, ["zoe@example.org"]),
    ],
)
def test_role_and_active_filters_narrow_together(
    people: None, filters: dict[str, Any], expected: list[str]
) -> None:
    assert emails(**filters) == expected
