"""/readyz tells a stranger only whether the service is ready: nothing a reset request moves.

The mail queue's counters move a few seconds after a reset request for an address with an account
(the worker queues and sends its mail) and not for an unknown address; so they are shown only to
administrators and to `AUTOMMATE_MONITORING_NETWORKS` (loopback by default).
"""

from __future__ import annotations

from http import HTTPStatus

from django.test import Client

from autommate.accounts.models import User
from autommate.delivery.models import WorkerHeartbeat

from .conftest import Mailbox, request_reset

STRANGER = "203.0.113.7"


def test_a_strangers_readiness_answer_does_not_move_with_a_reset_for_a_real_account(
    mailbox: Mailbox, regular_user: User
) -> None:
    WorkerHeartbeat.objects.create(worker_id="worker-1")
    stranger = Client(REMOTE_ADDR=STRANGER)
    monitor = Client()  # From loopback, the default monitoring network.
    before = stranger.get("/readyz")
    counted_before = monitor.get("/readyz").json()

    assert request_reset(stranger, regular_user.email).status_code == HTTPStatus.FOUND
    mailbox.deliver_one()
    after = stranger.get("/readyz")

    assert before.status_code == after.status_code == HTTPStatus.OK
    assert before.json() == {"status": "ready"}
    assert after.content == before.content
    # The attack would have worked on the counters: the monitor sees the reset mail go out.
    assert monitor.get("/readyz").json()["sent_24h"] == counted_before["sent_24h"] + 1
