"""The OpenAPI document: valid, complete, and honest about failures and secrets."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
import schemathesis
from django.test import Client
from schemathesis.core.result import Ok

pytestmark = pytest.mark.django_db

# DESIGN.md's routes, and what the issue adds (read/update/deactivate users, API tokens).
EXPECTED_OPERATIONS = {
    ("get", "/api/v1/mail-server"),
    ("put", "/api/v1/mail-server"),
    ("post", "/api/v1/mail-server/test"),
    ("post", "/api/v1/mail-server/confirm"),
    ("get", "/api/v1/forgot-password"),
    ("put", "/api/v1/forgot-password"),
    ("post", "/api/v1/password-reset/request"),
    ("post", "/api/v1/password-reset/confirm"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{user_id}"),
    ("patch", "/api/v1/users/{user_id}"),
    ("post", "/api/v1/users/{user_id}/deactivate"),
    ("post", "/api/v1/users/{user_id}/unlock"),
    ("post", "/api/v1/users/{user_id}/invitation"),
    ("post", "/api/v1/users/{user_id}/password-reset"),
    ("get", "/api/v1/mail-log"),
    ("get", "/api/v1/audit-events"),
    ("get", "/api/v1/api-tokens"),
    ("post", "/api/v1/api-tokens"),
    ("get", "/api/v1/api-tokens/{token_id}"),
    ("delete", "/api/v1/api-tokens/{token_id}"),
}
# Creating and revoking API tokens takes a signed-in session, never a token.
SESSION_ONLY_OPERATIONS = {
    ("post", "/api/v1/api-tokens"),
    ("delete", "/api/v1/api-tokens/{token_id}"),
}
PUBLIC_OPERATIONS = {
    ("post", "/api/v1/password-reset/request"),
    ("post", "/api/v1/password-reset/confirm"),
}
WRITE_ONLY_FIELDS = {
    "password",
    "new_password",
    "client_secret",
    "client_certificate",
    "service_account_key",
}


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def property_names(document: dict[str, Any], schema: dict[str, Any], seen=None) -> set[str]:
    """Every property name reachable from a schema, through references and combinators."""
    seen = set() if seen is None else seen
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return set()
        seen.add(schema["$ref"])
    schema = resolve(document, schema)
    names = set(schema.get("properties", {}))
    children = list(schema.get("properties", {}).values())
    children += schema.get("anyOf", []) + schema.get("allOf", []) + schema.get("oneOf", [])
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    for child in children:
        names |= property_names(document, child, seen)
    return names


def test_document_validates_against_the_openapi_schema(document) -> None:
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()
    loaded = [result for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(loaded) == len(EXPECTED_OPERATIONS)


def test_document_has_every_operation(document) -> None:
    assert {(method, path) for method, path, _ in operations(document)} == EXPECTED_OPERATIONS


def test_every_failure_is_documented_as_the_error_body(document) -> None:
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for method, path, operation in operations(document):
        responses = operation["responses"]
        expected = {"400", "413", "415"}
        if (method, path) not in PUBLIC_OPERATIONS:
            expected |= {"401", "403"}
        assert expected <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == error


def test_error_body_has_code_message_and_fields(document) -> None:
    schema = document["components"]["schemas"]["ErrorOut"]
    assert set(schema["required"]) == {"code", "message"}
    assert set(schema["properties"]) == {"code", "message", "fields"}


def test_documented_specific_failures(document) -> None:
    paths = document["paths"]
    assert "409" in paths["/api/v1/forgot-password"]["put"]["responses"]
    request = paths["/api/v1/password-reset/request"]["post"]["responses"]
    assert {"202", "404", "429"} <= set(request)
    assert {"204", "429"} <= set(paths["/api/v1/password-reset/confirm"]["post"]["responses"])
    assert "429" in paths["/api/v1/mail-server/test"]["post"]["responses"]
    assert "201" in paths["/api/v1/users"]["post"]["responses"]
    assert "404" in paths["/api/v1/users/{user_id}"]["get"]["responses"]


def test_passwords_are_write_only_and_never_in_a_response(document) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            for content in response.get("content", {}).values():
                names = property_names(document, content["schema"])
                assert not names & WRITE_ONLY_FIELDS, (method, path, status)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            schema = resolve(document, body["schema"])
            for name in WRITE_ONLY_FIELDS & set(schema.get("properties", {})):
                assert schema["properties"][name]["writeOnly"] is True, (method, path, name)
    mail_server = document["components"]["schemas"]["MailServerOut"]["properties"]
    assert "has_password" in mail_server
    assert "verified" in mail_server
    for name in ("password", "client_secret", "client_certificate", "service_account_key"):
        assert f"{name}_set" in mail_server
    mail_server_in = document["components"]["schemas"]["MailServerIn"]["properties"]
    assert WRITE_ONLY_FIELDS - {"new_password"} <= set(mail_server_in)


def test_mail_server_authentication_methods_and_steps_are_documented(document) -> None:
    schemas = document["components"]["schemas"]
    auth_method = schemas["MailServerIn"]["properties"]["auth_method"]
    method = resolve(document, auth_method.get("allOf", [auth_method])[0])
    assert method["enum"] == ["password", "oauth2", "google-service-account"]
    assert schemas["MailServerIn"]["properties"]["auth_method"]["default"] == "password"
    assert "auth_method" not in schemas["MailServerIn"].get("required", [])
    assert "token" in schemas["StepOut"]["properties"]["name"]["description"]


def test_security_schemes_and_public_operations(document) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerTokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["SessionAuth"]["type"] == "apiKey"
    assert schemes["SessionAuth"]["in"] == "cookie"
    for method, path, operation in operations(document):
        if (method, path) in PUBLIC_OPERATIONS:
            assert "security" not in operation
        elif (method, path) in SESSION_ONLY_OPERATIONS:
            assert operation["security"] == [{"SessionAuth": []}]
        else:
            assert operation["security"] == [{"BearerTokenAuth": []}, {"SessionAuth": []}]


def test_operation_ids_are_unique_and_short(document) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert all("." not in operation_id and len(operation_id) < 40 for operation_id in ids)


def test_api_root_says_where_the_document_and_the_docs_are(client: Client) -> None:
    response = client.get("/api/v1/")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["openapi"] == "/api/v1/openapi.json"
    assert response.json()["docs"] == "/api/v1/docs"
