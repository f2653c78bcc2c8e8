"""`/metrics`: the counters move with a real reset journey, for those allowed to read them only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from autommate.mailserver import tokens
from autommate.recovery.models import ResetLink
from tests.conftest import USER_PASSWORD
from tests.delivery.test_workers import database_url
from tests.mailserver.test_oauth_login import CLIENT_ID, CLIENT_SECRET, MAILBOX
from tests.mailserver.test_oauth_login import _microsoft as microsoft_config

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase for mike"
LINK = re.compile(r"http://127\.0\.0\.1:8000(/reset-password/[A-Za-z0-9_-]+/)")


def scrape(client: Client | None = None, token: str = "") -> dict[tuple[str, frozenset], float]:
    """Return every sample of `/metrics` by name and labels, read as Prometheus reads it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = (client or Client()).get("/metrics", headers=headers)
    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_reset_journey_moves_the_counters(
    client, forgot_password_on, regular_user, smtp_server, run_worker
) -> None:
    before = scrape()

    client.post("/forgot-password/", {"email": regular_user.email})
    run_worker()
    (message,) = smtp_server.wait_for(1)
    path = LINK.search(message.get_body(("plain",)).get_content())[1]  # type: ignore[index]
    client.get(path)
    client.post("/reset-password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    waiting = scrape()
    run_worker()
    smtp_server.wait_for(2)
    Client().get(path)  # The used link, once more.
    after = scrape()

    total = "autommate_forgot_password_requests_total"
    assert moved(before, after, total, outcome="accepted") == 1
    assert moved(before, after, "autommate_reset_links_total", event="opened") == 1
    assert moved(before, after, "autommate_reset_links_total", event="used") == 1
    assert moved(before, after, "autommate_reset_links_total", event="refused") == 1
    mails = "autommate_mails_total"
    assert moved(before, after, mails, kind="reset", outcome="sent") == 1
    assert moved(before, after, mails, kind="password_changed", outcome="sent") == 1
    latency = "autommate_mail_delivery_seconds_count"
    assert moved(before, after, latency, kind="reset") == 1
    assert moved(before, after, "autommate_mail_delivery_seconds_bucket", kind="reset", le="+Inf")
    # The password-changed notice waited in the queue until the worker ran.
    assert value(waiting, "autommate_mail_queue_depth") == 1
    assert value(after, "autommate_mail_queue_depth") == 0


def test_refusals_are_counted_by_outcome(
    client, forgot_password_on, regular_user, smtp_server, run_worker, settings
) -> None:
    settings.LIMIT_RESET_PER_CLIENT = "1/h"
    before = scrape()

    client.post("/forgot-password/", {"email": regular_user.email})
    client.post("/forgot-password/", {"email": regular_user.email})  # The limit refuses it.
    run_worker()
    path = LINK.search(smtp_server.wait_for(1)[0].get_body(("plain",)).get_content())[1]  # type: ignore[index]
    ResetLink.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    Client().get(path)
    forgot_password_on.enabled = False
    forgot_password_on.save()
    client.post("/forgot-password/", {"email": regular_user.email})
    client.post("/login/", {"username": regular_user.email, "password": "wrong password"})
    Client().post("/login/", {"username": regular_user.email, "password": USER_PASSWORD})
    after = scrape()

    total = "autommate_forgot_password_requests_total"
    assert moved(before, after, total, outcome="accepted") == 1
    assert moved(before, after, total, outcome="rate_limited") == 1
    assert moved(before, after, total, outcome="feature_off") == 1
    assert moved(before, after, "autommate_reset_links_total", event="expired") == 1
    assert moved(before, after, "autommate_sign_ins_total", outcome="failed") == 1
    assert moved(before, after, "autommate_sign_ins_total", outcome="succeeded") == 1


def test_a_test_mail_is_counted_by_outcome(admin_client, configured_mail_server, smtp_server):
    before = scrape()

    sent = admin_client.post(
        "/api/v1/mail-server/test",
        {"recipient": "ops@example.org"},
        content_type="application/json",
    )
    after = scrape()

    assert sent.status_code == HTTPStatus.OK, sent.content
    assert moved(before, after, "autommate_test_mails_total", outcome="accepted") == 1
    assert moved(before, after, "autommate_mails_total", kind="test", outcome="sent") == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_processs_counts_reach_the_web_servers_metrics(
    client, forgot_password_on, regular_user, smtp_server
) -> None:
    before = scrape()
    client.post("/forgot-password/", {"email": regular_user.email})

    # A separate `autommate worker` on the same host and metrics directory sends the mail.
    worker = subprocess.run(
        [sys.executable, "-m", "autommate", "worker", "--batch"],
        env=os.environ
        | {
            "DJANGO_SETTINGS_MODULE": "autommate.settings",
            "DATABASE_URL": database_url(),
            "AUTOMMATE_SECRET_KEY": django_settings.SECRET_KEY,
            "AUTOMMATE_DEBUG": "0",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    after = scrape()

    assert worker.returncode == 0, worker.stderr
    smtp_server.wait_for(1)
    assert moved(before, after, "autommate_mails_total", kind="reset", outcome="sent") == 1
    assert moved(before, after, "autommate_mail_delivery_seconds_count", kind="reset") == 1


def test_token_requests_of_oauth_are_counted_by_outcome(
    smtp_server_factory, token_endpoint, test_ca
) -> None:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET, mailboxes=[MAILBOX])
    server = smtp_server_factory("starttls", oauth=token_endpoint, password_login=False)
    before = scrape()

    tokens.request_token(microsoft_config(server, token_endpoint, test_ca))
    with pytest.raises(tokens.TokenRefused):
        tokens.request_token(
            microsoft_config(server, token_endpoint, test_ca, client_secret="a wrong secret")
        )
    after = scrape()

    requests = "autommate_oauth_token_requests_total"
    assert moved(before, after, requests, outcome="issued") == 1
    assert moved(before, after, requests, outcome="failed") == 1
