"""`/metrics` tells nothing about accounts: no address, user or token in a label, and it is
served only to the monitoring networks or the holder of `AUTOMMATE_METRICS_TOKEN`."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from tests.delivery.test_metrics import LINK, scrape

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "metrics-token-for-the-test-0123456789"
ALLOWED_LABELS = {"outcome", "event", "kind", "le"}


def test_no_label_carries_an_address_a_user_or_a_token(
    client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    client.post("/forgot-password/", {"email": regular_user.email})
    client.post("/forgot-password/", {"email": "nobody@example.net"})
    client.post("/login/", {"username": regular_user.email, "password": "wrong password"})
    run_worker()
    (message,) = smtp_server.wait_for(1)
    token = LINK.search(message.get_body(("plain",)).get_content())[1].split("/")[2]  # type: ignore[index]
    Client(REMOTE_ADDR="198.51.100.23").get(f"/reset-password/{token}x/")

    text = Client().get("/metrics").content.decode()
    samples = scrape()

    assert {name for _, labels in samples for name, _ in labels} <= ALLOWED_LABELS
    for secret in (regular_user.email, "nobody@example.net", "example", token, "198.51.100"):
        assert secret not in text


def test_only_monitoring_networks_and_the_token_holder_read_the_metrics(settings) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN
    stranger = Client(REMOTE_ADDR="203.0.113.9")

    assert stranger.get("/metrics").status_code == HTTPStatus.NOT_FOUND
    wrong = stranger.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}x")
    assert wrong.status_code == HTTPStatus.FORBIDDEN
    assert wrong.content == b"Forbidden\n"
    assert scrape(stranger, token=METRICS_TOKEN)
    assert scrape(Client(REMOTE_ADDR="127.0.0.1"))
    settings.MONITORING_NETWORKS = ()
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == HTTPStatus.NOT_FOUND


def test_without_a_token_configured_no_bearer_opens_the_metrics(settings) -> None:
    settings.METRICS_TOKEN = ""
    stranger = Client(REMOTE_ADDR="203.0.113.9")

    assert stranger.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert stranger.get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 403
