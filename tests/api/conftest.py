from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from autommate.accounts.models import User
from autommate.accounts.tokens import api_token_create

API = "/api/v1"


class ApiClient:
    """Django's test client speaking JSON to /api/v1/, with a token or a session or neither."""

    def __init__(self, client: Client | None = None, token: str | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _send(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        send = getattr(self.client, method)
        headers = {**self.headers, **extra.pop("headers", {})}
        if body is None:
            return send(API + path, headers=headers, **extra)
        return send(
            API + path,
            data=json.dumps(body),
            content_type="application/json",
            headers=headers,
            **extra,
        )

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.client.get(API + path, params or {}, headers={**self.headers}, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._send("post", path, body, **extra)

    def put(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._send("put", path, body, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self._send("patch", path, body, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self._send("delete", path, **extra)


def token_for(user: User, *, expires_in: timedelta | None = None) -> str:
    expires_at = timezone.now() + expires_in if expires_in else None
    return api_token_create(user=user, name="script", expires_at=expires_at)[1]


@pytest.fixture
def admin_token(admin_user: User) -> str:
    return token_for(admin_user)


@pytest.fixture
def user_token(regular_user: User) -> str:
    return token_for(regular_user)


@pytest.fixture
def admin_api(admin_token: str) -> ApiClient:
    return ApiClient(token=admin_token)


@pytest.fixture
def user_api(user_token: str) -> ApiClient:
    return ApiClient(token=user_token)


@pytest.fixture
def anonymous_api(db) -> ApiClient:
    return ApiClient()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Check that a response is the API's JSON error body with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert body["code"] == code, body
    assert body["message"]
    return body
