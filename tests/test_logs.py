"""Log lines in both formats: JSON objects that parse, the request id in each line of a request
and in its audit event, and link tokens redacted in every field."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
from django.test import Client

from autommate.audit.models import Action, AuditEvent
from autommate.logs import JsonFormatter, RequestIdFilter, TextFormatter
from autommate.redaction import RedactSecretsFilter
from tests.delivery.test_serve import environment, free_port

TOKEN = "Zm9vYmFyLXNlY3JldC10b2tlbi0xMjM0NTY3ODkw"


@pytest.fixture(params=["text", "json"])
def captured(request) -> Iterator[tuple[str, io.StringIO]]:
    """The product's console handler (its filters and the format's formatter) on a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter() if request.param == "json" else TextFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield request.param, stream
    finally:
        root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_a_link_token_is_redacted_in_both_formats(captured) -> None:
    log_format, stream = captured

    logging.getLogger("autommate.test").warning(
        "Opened http://127.0.0.1:8000/reset-password/%s/",
        TOKEN,
        extra={"path": f"/reset-password/{TOKEN}/", "link": f"/settings/mail/confirm/{TOKEN}/"},
    )

    (line,) = lines(stream)
    assert TOKEN not in line
    assert "/reset-password/[redacted]/" in line
    if log_format == "json":
        record = json.loads(line)
        assert record["message"] == "Opened http://127.0.0.1:8000/reset-password/[redacted]/"
        assert record["path"] == "/reset-password/[redacted]/"
        assert record["link"] == "/settings/mail/confirm/[redacted]/"
        assert record["level"] == "WARNING"
        assert record["logger"] == "autommate.test"
        assert record["time"]


@pytest.mark.django_db
def test_the_request_id_is_in_the_app_line_and_the_audit_event(captured, settings) -> None:
    log_format, stream = captured
    settings.TRUSTED_PROXIES = 1

    # A host not served: one WARNING line, written while the request is served.
    answer = Client(HTTP_HOST=f"evil-{log_format}.example").get(
        "/login/", HTTP_X_REQUEST_ID="proxy-7f3a"
    )
    refused = Client().post(
        "/login/", {"username": "ada@example.org", "password": "wrong"}, HTTP_X_REQUEST_ID="abc-1"
    )

    assert answer.status_code == HTTPStatus.BAD_REQUEST
    assert answer["X-Request-ID"] == "proxy-7f3a"
    (line,) = [line for line in lines(stream) if f"evil-{log_format}.example" in line]
    if log_format == "json":
        assert json.loads(line)["request_id"] == "proxy-7f3a"
    else:
        assert line.endswith(" request_id=proxy-7f3a")
    event = AuditEvent.objects.get(action=Action.SIGN_IN_FAILED)
    assert event.detail["request_id"] == refused["X-Request-ID"] == "abc-1"


@pytest.mark.django_db
def test_without_a_trusted_proxy_the_clients_id_is_not_taken(settings) -> None:
    settings.TRUSTED_PROXIES = 0

    answer = Client().get("/healthz", HTTP_X_REQUEST_ID="chosen-by-the-client")
    odd = Client().get("/healthz", HTTP_X_REQUEST_ID="two words")

    assert answer["X-Request-ID"] != "chosen-by-the-client"
    assert len(answer["X-Request-ID"]) == 32
    assert odd["X-Request-ID"] != "two words"


def get(port: int, path: str, request_id: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"X-Request-ID": request_id}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serve_writes_access_lines_with_the_request_id_and_no_token(
    tmp_path: Path, log_format: str
) -> None:
    env = environment(tmp_path, AUTOMMATE_LOG_FORMAT=log_format, AUTOMMATE_TRUSTED_PROXIES="1")
    run = [sys.executable, "-m", "autommate"]
    setup = subprocess.run(
        [*run, "setup"], env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False
    )
    assert setup.returncode == 0, setup.stderr
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [*run, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(port, "/healthz", "probe") == HTTPStatus.OK:
                    break
            except OSError:
                time.sleep(0.2)
        assert get(port, f"/reset-password/{TOKEN}/", "req-from-proxy-42") == 404
        time.sleep(1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    output = (tmp_path / "serve.log").read_text()

    assert TOKEN not in output
    (access,) = [line for line in output.splitlines() if "req-from-proxy-42" in line]
    assert "/reset-password/[redacted]/" in access
    if log_format == "json":
        records = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert {record["logger"] for record in records} >= {
            "autommate.delivery.serve",
            "gunicorn.error",
            "gunicorn.access",
            "autommate.delivery.worker",
        }
        record = json.loads(access)
        assert record["logger"] == "gunicorn.access"
        assert record["request_id"] == "req-from-proxy-42"
        assert record["status"] == 404
        assert record["path"] == "/reset-password/[redacted]/"
    else:
        assert access.endswith("request_id=req-from-proxy-42")
