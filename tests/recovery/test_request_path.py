"""The forgot-password request path: it records and enqueues, and never waits for SMTP."""

from __future__ import annotations

import re
import time
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from autommate.accounts.models import User
from autommate.delivery.models import OutgoingMessage
from autommate.recovery.models import ResetRequest
from tests.conftest import point_mail_settings_at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("limits_off")]

SLOW_SERVER_SECONDS = 2.0
# "Well under" the server's delay: a request that waited for SMTP would take the whole delay.
FAST_ENOUGH_SECONDS = 0.5
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def test_requests_answer_without_waiting_for_a_slow_mail_server(
    forgot_password_on, regular_user, smtp_server_factory, run_worker
) -> None:
    slow = smtp_server_factory(delay_seconds=SLOW_SERVER_SECONDS)
    point_mail_settings_at(slow)
    addresses = ["nobody@example.org", regular_user.email.upper(), "nobody.else@example.org"]

    durations = []
    for address in addresses:
        started = time.monotonic()
        response = Client().post("/forgot-password/", {"email": address})
        durations.append(time.monotonic() - started)
        assert response.status_code == HTTPStatus.FOUND

    assert max(durations) < FAST_ENOUGH_SECONDS, durations
    assert slow.commands == []  # Nobody even connected.
    assert ResetRequest.objects.count() == 3

    started = time.monotonic()
    run_worker()
    received = slow.wait_for(1, timeout=10)
    assert time.monotonic() - started >= SLOW_SERVER_SECONDS  # The worker did the waiting.
    assert [m["To"] for m in received] == [regular_user.email]


def test_request_path_neither_looks_the_address_up_nor_sends(
    forgot_password_on, regular_user, smtp_server
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = Client().post("/forgot-password/", {"email": regular_user.email})

    assert response.status_code == HTTPStatus.FOUND
    statements = " ".join(query["sql"] for query in queries.captured_queries)
    assert "accounts_user" not in statements
    assert "delivery_outgoingmessage" not in statements
    assert smtp_server.commands == []
    assert not OutgoingMessage.objects.exists()
    (request,) = ResetRequest.objects.all()
    assert request.processed_at is None
    (task,) = DBTaskResult.objects.all()
    assert task.task_path.endswith("reset_request_process")
    assert task.args_kwargs["args"] == [request.pk]


def test_registered_and_unknown_addresses_get_the_same_answer(
    forgot_password_on, smtp_server
) -> None:
    registered = [
        User.objects.create_user(f"member{number}@example.org").email for number in range(100)
    ]
    unknown = [f"stranger{number}@example.org" for number in range(100)]
    client = Client()

    answers = set()
    pages = set()
    for registered_address, unknown_address in zip(registered, unknown, strict=True):
        for address in (registered_address, unknown_address):
            response = client.post("/forgot-password/", {"email": address})
            answers.add(
                (
                    response.status_code,
                    response.get("Location"),
                    response.content,
                    tuple(sorted(response.headers)),
                )
            )
            shown = client.get(response["Location"])
            # The page names the address typed, whichever kind it is; nothing else may differ.
            page_text = CSRF_VALUE.sub("", shown.content.decode()).replace(address, "ADDRESS")
            pages.add((shown.status_code, page_text))

    assert len(answers) == 1, answers
    ((status, location, body, _headers),) = answers
    assert (status, location, body) == (HTTPStatus.FOUND, "/forgot-password/check-email/", b"")
    assert len(pages) == 1
    ((page_status, page_text),) = pages
    assert page_status == HTTPStatus.OK
    assert "A reset email has been sent" in page_text
    assert "Check your email" in page_text
    assert ResetRequest.objects.count() == 200
    assert smtp_server.commands == []


def test_typing_mistakes_are_answered_without_queueing_anything(forgot_password_on) -> None:
    response = Client().post("/forgot-password/", {"email": "not an address"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not ResetRequest.objects.exists()
    assert not DBTaskResult.objects.exists()
