"""Schemathesis against the live app: no server errors, no response outside the schema, no HTML.

Signed in as an administrator with a personal API token, every operation gets a bounded,
deterministic number of generated requests that fit the schema and of requests that do not.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLES_PER_MODE = 12
SKIPPED = {
    # The test mail talks to whatever host a generated body names; test_mail_server.py covers it.
    ("POST", "/api/v1/mail-server/test"),
    # Revoking the run's own token would leave every later request unauthenticated.
    ("DELETE", "/api/v1/api-tokens/{token_id}"),
}


def json_only(ctx, response, case) -> None:
    """Check that an answer from /api/ is JSON (or empty), never an HTML page."""
    if response.status_code == HTTPStatus.NO_CONTENT:
        assert not response.content
        return
    # Schemathesis keeps headers lower-cased, each with a list of values.
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), content_type
    assert not response.text.lstrip().startswith("<"), response.text[:200]


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    json_only,
]


def test_generated_requests_break_nothing(live_server, admin_user, settings_limits) -> None:
    token = token_for(admin_user)
    # Closed at the end: a kept-alive connection would keep a server thread and its database
    # connection open past the test.
    with requests.Session() as session:
        run_operations(live_server.url, token, session)


def run_operations(url: str, token: str, session: requests.Session) -> None:
    session.headers["Authorization"] = f"Bearer {token}"
    document = session.get(f"{url}/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    tested = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_MODE,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case) -> None:
                response = case.call(base_url=url, session=session, timeout=15)
                case.validate_response(response, checks=CHECKS)

            call()
        tested += 1
    assert tested == 20


@pytest.fixture
def settings_limits(settings):
    """Lift the limits a run of generated requests would reach, so every answer is exercised."""
    settings.LIMIT_RESET_PER_CLIENT = "off"
    settings.LIMIT_RESET_PER_ADDRESS = "off"
    settings.LIMIT_RESET_LINK_FAILURES = "off"
    return settings
