"""Redis down or hanging: no request fails, every limit still holds, one log line per outage.

The rate limits count in Redis when `REDIS_URL` is set. These tests point it at a port where
nothing listens, at one that accepts and never answers, and at a relay to the real Redis that is
cut and restored, and use the product as people do.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus

import pytest
from django.test import Client

from autommate.ratelimits import services as ratelimits
from autommate.recovery.models import ResetRequest
from tests.conftest import USER_PASSWORD

pytestmark = pytest.mark.django_db

OUTAGE = "Redis cannot be reached"


@pytest.fixture
def redis_down(settings, closed_port: int) -> str:
    url = f"redis://127.0.0.1:{closed_port}/0"
    settings.REDIS_URL = url
    return url


@pytest.fixture
def redis_hanging(settings, silent_port: int) -> str:
    url = f"redis://127.0.0.1:{silent_port}/0"
    settings.REDIS_URL = url
    return url


def test_log_in_works_with_redis_down(redis_down, regular_user) -> None:
    client = Client()
    response = client.post("/login/", {"username": regular_user.email, "password": USER_PASSWORD})

    assert response.status_code == HTTPStatus.FOUND
    assert client.get("/").status_code == HTTPStatus.OK


@pytest.mark.usefixtures("forgot_password_on")
def test_forgot_password_and_the_api_work_with_redis_down(redis_down, regular_user) -> None:
    page = Client().post("/forgot-password/", {"email": regular_user.email})
    api = Client().post(
        "/api/v1/password-reset/request",
        {"email": "someone@example.org"},
        content_type="application/json",
    )

    assert page.status_code == HTTPStatus.FOUND
    assert page["Location"] == "/forgot-password/check-email/"
    assert api.status_code == HTTPStatus.ACCEPTED
    assert ResetRequest.objects.count() == 2


@pytest.mark.usefixtures("forgot_password_on")
def test_limits_hold_in_the_database_while_redis_is_down(redis_down, settings) -> None:
    settings.LIMIT_RESET_PER_ADDRESS = "2/h"
    answers = [
        Client().post("/forgot-password/", {"email": "someone@example.org"}).status_code
        for _ in range(3)
    ]

    assert answers == [HTTPStatus.FOUND, HTTPStatus.FOUND, HTTPStatus.TOO_MANY_REQUESTS]
    assert ResetRequest.objects.count() == 2


@pytest.mark.usefixtures("forgot_password_on")
def test_an_outage_is_one_log_line(redis_down, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="autommate.ratelimits.services"):
        for _ in range(5):
            Client().post("/forgot-password/", {"email": "someone@example.org"})

    assert [r.getMessage() for r in caplog.records if OUTAGE in r.getMessage()] == [
        f"{OUTAGE} (ConnectionError): counting rate limits in the database until it answers again."
    ]
    assert all(record.exc_info is None for record in caplog.records)


@pytest.mark.usefixtures("forgot_password_on")
def test_a_hanging_redis_holds_requests_for_a_moment_only(redis_hanging) -> None:
    started = time.monotonic()
    answers = [
        Client().post("/forgot-password/", {"email": f"someone{n}@example.org"}).status_code
        for n in range(5)
    ]
    elapsed = time.monotonic() - started

    assert answers == [HTTPStatus.FOUND] * 5
    # One timeout of a quarter of a second, then the database until Redis is tried again;
    # the client's default would have held each request for seconds.
    assert elapsed < 3, f"5 requests took {elapsed:.1f} s"


class Relay:
    """A TCP relay to the real Redis that can be cut (connections refused and dropped)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def cut(self) -> None:
        self.open = False
        for connection in self.connections:
            connection.close()
        self.connections.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relay(settings) -> Iterator[Relay]:
    real = os.environ.get("REDIS_URL", "")
    if not real.startswith("redis://127.0.0.1:6379/"):
        pytest.skip("needs the suite's Redis (REDIS_URL=redis://127.0.0.1:6379/N)")
    relay = Relay(("127.0.0.1", 6379))
    settings.REDIS_URL = f"redis://127.0.0.1:{relay.port}/{real.rsplit('/', 1)[1]}"
    yield relay
    relay.close()


def test_limits_count_in_redis_again_once_it_is_back(relay: Relay, monkeypatch, caplog) -> None:
    monkeypatch.setattr(ratelimits, "REDIS_RETRY_SECONDS", 0.0)
    counter = ratelimits.Counter("outage-test", "key", "100/h")
    assert ratelimits.attempt(counter).allowed
    relay.cut()
    with caplog.at_level(logging.WARNING, logger="autommate.ratelimits.services"):
        assert ratelimits.attempt(counter).allowed  # Counted in the database.
        relay.restore()
        assert ratelimits.attempt(counter).allowed  # In Redis again.

    assert [r.getMessage().split(" (")[0].split(":")[0] for r in caplog.records] == [
        OUTAGE,
        "Redis answers again",
    ]
    assert ratelimits.redis_reachable() is True
