"""Every failure of the API is the same JSON body, never an HTML page or a stack trace."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from django.conf import settings

from tests.api.conftest import API, ApiClient, assert_error

pytestmark = pytest.mark.django_db

VALID_MAIL_SERVER = {
    "host": "smtp.example.org",
    "port": 587,
    "protocol": "smtp",
    "use_tls": True,
    "sender_email": "noreply@example.org",
}


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path", ["/nothing-here", "/users/abc", "/mail-server/", "/users/1/nothing", "/docs/x"]
)
def test_unknown_route_is_json_404(admin_api: ApiClient, method: str, path: str) -> None:
    response = getattr(admin_api.client, method)(API + path, headers=admin_api.headers)
    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")


def test_unknown_route_answers_404_before_asking_who_calls(anonymous_api: ApiClient) -> None:
    assert_error(anonymous_api.get("/nothing-here"), HTTPStatus.NOT_FOUND, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/mail-server", {"GET", "PUT"}),
        ("get", "/mail-server/test", {"POST"}),
        ("put", "/users/1/deactivate", {"POST"}),
        ("get", "/password-reset/request", {"POST"}),
        ("post", "/audit-events", {"GET"}),
    ],
)
def test_wrong_method_is_json_405_with_allow(
    admin_api: ApiClient, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(admin_api.client, method)(API + path, headers=admin_api.headers)
    assert_error(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
    assert {part.strip() for part in response["Allow"].split(",")} == allowed


@pytest.mark.parametrize("body", [b"{", b'{"host": ', b"\xff\xfe{}", b"[1, 2", b"nul"])
def test_malformed_json_is_400(admin_api: ApiClient, body: bytes) -> None:
    response = admin_api.client.put(
        API + "/mail-server", body, content_type="application/json", headers=admin_api.headers
    )
    assert_error(response, HTTPStatus.BAD_REQUEST, "malformed_json")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_body_that_is_not_json_is_415(admin_api: ApiClient, content_type: str) -> None:
    response = admin_api.client.put(
        API + "/mail-server", "host=x", content_type=content_type, headers=admin_api.headers
    )
    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(admin_api: ApiClient) -> None:
    response = admin_api.client.put(
        API + "/mail-server",
        json.dumps(VALID_MAIL_SERVER),
        content_type="application/json; charset=utf-8",
        headers=admin_api.headers,
    )
    assert response.status_code == HTTPStatus.OK, response.content


def test_body_over_the_documented_limit_is_413(admin_api: ApiClient) -> None:
    oversized = json.dumps({**VALID_MAIL_SERVER, "ca_certificate": "x" * 600_000})
    assert len(oversized) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = admin_api.client.put(
        API + "/mail-server", oversized, content_type="application/json", headers=admin_api.headers
    )
    body = assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["message"]


def test_oversized_body_of_an_anonymous_request_is_413_too(anonymous_api: ApiClient) -> None:
    response = anonymous_api.client.post(
        API + "/password-reset/request",
        json.dumps({"email": "a" * 600_000}),
        content_type="application/json",
    )
    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")


def test_schema_violation_is_400_with_the_field(admin_api: ApiClient) -> None:
    response = admin_api.put("/mail-server", {**VALID_MAIL_SERVER, "port": "many"})
    body = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(body["fields"]) == ["port"]


def test_missing_fields_are_each_listed(admin_api: ApiClient) -> None:
    body = assert_error(
        admin_api.put("/mail-server", {}), HTTPStatus.BAD_REQUEST, "validation_failed"
    )
    assert {"host", "port", "protocol", "use_tls", "sender_email"} <= set(body["fields"])


def test_body_that_is_not_an_object_is_400(admin_api: ApiClient) -> None:
    response = admin_api.put("/mail-server", ["smtp.example.org"])
    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")


def test_missing_body_is_400(admin_api: ApiClient) -> None:
    response = admin_api.client.put(API + "/mail-server", headers=admin_api.headers)
    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")


@pytest.mark.parametrize("text", ["smtp\x00.example.org", "smtp\ud800.example.org"])
def test_text_no_database_can_hold_is_400(admin_api: ApiClient, text: str) -> None:
    body = json.dumps({**VALID_MAIL_SERVER, "host": text})  # ensure_ascii keeps the surrogate
    response = admin_api.client.put(
        API + "/mail-server", body, content_type="application/json", headers=admin_api.headers
    )
    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(error["fields"]) == ["host"]


def test_nul_in_a_query_parameter_is_400(admin_api: ApiClient) -> None:
    response = admin_api.get("/users", {"q": "mike\x00"})
    error = assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")
    assert list(error["fields"]) == ["q"]


@pytest.mark.parametrize(
    "params", [{"page": "0"}, {"page": "x"}, {"page_size": "101"}, {"page": "99999999999999999999"}]
)
def test_paging_out_of_range_is_400(admin_api: ApiClient, params: dict[str, str]) -> None:
    assert_error(admin_api.get("/users", params), HTTPStatus.BAD_REQUEST, "validation_failed")


def test_huge_id_is_400_not_a_database_error(admin_api: ApiClient) -> None:
    response = admin_api.get(f"/users/{2**64}")
    assert_error(response, HTTPStatus.BAD_REQUEST, "validation_failed")


def test_unexpected_failure_is_json_500_without_a_stack_trace(
    admin_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("autommate.delivery.api.page_of", broken)
    response = admin_api.get("/mail-log")
    assert_error(response, HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_unknown_path_under_api_outside_v1_is_json(admin_api: ApiClient) -> None:
    response = admin_api.client.get("/api/v2/users")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found"
