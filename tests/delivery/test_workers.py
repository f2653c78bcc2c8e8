"""`autommate worker` processes against a real database and SMTP server: killed, restarted, doubled.

The workers run as operators run them, in their own processes, on the test database (a file for
SQLite, the test database for PostgreSQL), so the rows they write are the rows the test reads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import F
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from autommate.accounts.models import User
from autommate.delivery import services
from autommate.delivery.attempts import DeliveryAttempt
from autommate.delivery.models import (
    Kind,
    OutgoingMessage,
    SendingPause,
    ServerOutage,
    State,
    WorkerHeartbeat,
)
from autommate.mailserver.models import MailServerSettings
from tests.conftest import USER_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 30
STOP_SECONDS = 10


def database_url() -> str:
    """Return the address of the database this test runs on, for a worker process to use."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"
    raise NotImplementedError(connection.vendor)


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """End the worker at once, as a crash or an OOM killer would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(STOP_SECONDS)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[str], WorkerProcess]]:
    """Start `autommate worker` processes on the test database; kill any left at the end."""
    started: list[WorkerProcess] = []
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "autommate.settings",
        "DATABASE_URL": database_url(),
        # The same key as the tests, so that what one side encrypts or hashes the other reads.
        "AUTOMMATE_SECRET_KEY": django_settings.SECRET_KEY,
        "AUTOMMATE_DEBUG": "0",
        "AUTOMMATE_VAR_DIR": str(tmp_path),
    }

    def start(name: str) -> WorkerProcess:
        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "autommate",
                    "worker",
                    "--interval",
                    "0.1",
                    "--worker-id",
                    name,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(name, process, log_path)
        started.append(worker)
        return worker

    yield start

    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


def wait_until(condition: Callable[[], bool], what: str, *workers: WorkerProcess) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        for worker in workers:
            assert worker.process.poll() is None, f"{worker.name} exited:\n{worker.log()}"
        time.sleep(0.05)
    logs = "\n".join(f"--- {worker.name}\n{worker.log()}" for worker in workers)
    pytest.fail(f"Not within {WAIT_SECONDS} s: {what}\n{logs}")


def point_mail_settings_at(server) -> None:
    mail_server = MailServerSettings.objects.get(pk=1)
    mail_server.host, mail_server.port = server.host, server.port
    mail_server.verified_fingerprint = mail_server.fingerprint()
    mail_server.save()


def queue_notices(count: int) -> set[str]:
    """Queue one password-changed notice for each of `count` new accounts; return the addresses."""
    addresses = set()
    for number in range(count):
        user = User.objects.create_user(f"user{number}@example.org", USER_PASSWORD)
        services.message_record(
            kind=Kind.PASSWORD_CHANGED,
            recipient=user.email,
            user=user,
            context={"changed_at": timezone.now().isoformat()},
        )
        addresses.add(user.email)
    return addresses


def all_sent() -> bool:
    return not OutgoingMessage.objects.exclude(state=State.SENT).exists()


def test_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    forgot_password_on, smtp_server_factory, start_worker
) -> None:
    """SIGKILL in the middle of a batch over a slow server, then a restart.

    At the kill the worker holds every message under its lease; the ones the server accepted
    are already recorded as sent, the rest stay "sending". Once the lease runs out (moved into
    the past here rather than waited for) a new worker sends the rest. The messages in the
    server's hands at the instant of the kill (one per connection at most), accepted but not
    yet recorded, are the only ones that may arrive twice (at least once, by design); a
    message recorded as sent never is. Messages are counted by recipient: each attempt
    carries a new Message-ID.
    """
    server = smtp_server_factory(delay_seconds=0.5)
    point_mail_settings_at(server)
    addresses = queue_notices(8)

    first = start_worker("first")
    wait_until(lambda: len(server.messages) >= 2, "two messages accepted", first)
    readiness = Client().get("/readyz").json()
    first.kill()

    assert readiness["status"] == "ready"
    assert readiness["worker_last_seen_seconds"] <= 5
    assert readiness["waiting"] >= 1

    recorded_sent = set(
        OutgoingMessage.objects.filter(state=State.SENT).values_list("recipient", flat=True)
    )
    held = OutgoingMessage.objects.filter(state=State.SENDING)
    assert held.exists(), "the kill came after the batch had finished"
    assert not OutgoingMessage.objects.filter(state__in=[State.QUEUED, State.FAILED]).exists()
    now = timezone.now()
    assert all(m.locked_until and m.locked_until > now for m in held)
    received_before_restart = len(server.messages)

    # The dead worker's lease runs out.
    expired = now - timedelta(seconds=services.LEASE_SECONDS + 1)
    held.update(locked_until=expired, next_attempt_at=expired)
    second = start_worker("second")
    wait_until(all_sent, "every message recorded as sent", second)
    second.stop()

    received = Counter(message["To"] for message in server.messages)
    assert set(received) == addresses
    twice = {address for address, count in received.items() if count > 1}
    assert not twice & recorded_sent
    # At most one message per connection can be in the server's hands at the kill.
    assert len(twice) <= django_settings.DELIVERY_CONNECTIONS, received
    assert len(server.messages) <= len(addresses) + django_settings.DELIVERY_CONNECTIONS
    assert len(server.messages) > received_before_restart
    # Every sent message is recorded with the Message-ID the server received.
    received_ids = {message["Message-ID"] for message in server.messages}
    assert set(OutgoingMessage.objects.values_list("message_id", flat=True)) <= received_ids


def test_two_workers_on_postgresql_deliver_each_of_200_mails_exactly_once(
    forgot_password_on, smtp_server_factory, start_worker
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")
    server = smtp_server_factory(delay_seconds=0.01)
    point_mail_settings_at(server)
    addresses = queue_notices(200)

    workers = [start_worker("worker-a"), start_worker("worker-b")]
    wait_until(all_sent, "all 200 messages recorded as sent", *workers)
    for worker in workers:
        worker.stop()

    received = Counter(message["To"] for message in server.messages)
    assert set(received) == addresses
    assert set(received.values()) == {1}
    assert len(server.messages) == 200
    assert len({message["Message-ID"] for message in server.messages}) == 200
    assert set(OutgoingMessage.objects.values_list("attempts", flat=True)) == {1}
    # Both workers took part, or the test proved nothing about two of them.
    sent_by: Counter[str] = Counter()
    for task in DBTaskResult.objects.filter(task_path__endswith="deliver_due"):
        if isinstance(task.return_value, int):
            for worker_id in task.worker_ids:
                sent_by[worker_id] += task.return_value
    assert sent_by["worker-a"] > 0, sent_by
    assert sent_by["worker-b"] > 0, sent_by


def test_killed_workers_mail_is_sent_by_another_worker_within_30_seconds(
    forgot_password_on, smtp_server_factory, start_worker
) -> None:
    """SIGKILL mid-batch with a second worker running: nothing is moved by hand.

    The survivor sends the dead worker's claimed mail once the lease runs out unrenewed
    (LEASE_SECONDS, well under 30 s), and runs again the task row the dead worker left running. The
    mails in the server's hands at the instant of the kill (at most one per connection) are the
    only ones that may arrive twice; a mail recorded as sent never does.
    """
    server = smtp_server_factory(delay_seconds=0.5)
    point_mail_settings_at(server)
    addresses = queue_notices(24)

    doomed = start_worker("doomed")
    wait_until(lambda: len(server.messages) >= 4, "four messages accepted", doomed)
    survivor = start_worker("survivor")
    doomed.kill()
    killed_at = time.monotonic()
    recorded_sent = set(
        OutgoingMessage.objects.filter(state=State.SENT).values_list("recipient", flat=True)
    )
    assert OutgoingMessage.objects.filter(state=State.SENDING).exists(), "killed too late"

    wait_until(all_sent, "every message recorded as sent", survivor)
    assert time.monotonic() - killed_at < 30

    def doomed_task_run_again() -> bool:
        # The dead worker's task is run again by the survivor, so no row stays RUNNING.
        rows = list(DBTaskResult.objects.values_list("worker_ids", "status"))
        return any(ids[:1] == ["doomed"] and ids[-1] == "survivor" for ids, _ in rows) and all(
            status != "RUNNING" or ids[-1] != "doomed" for ids, status in rows
        )

    wait_until(doomed_task_run_again, "the dead worker's task row run again", survivor)
    survivor.stop()

    received = Counter(message["To"] for message in server.messages)
    assert set(received) == addresses
    twice = {address for address, count in received.items() if count > 1}
    assert not twice & recorded_sent
    assert len(twice) <= django_settings.DELIVERY_CONNECTIONS, received


def test_two_workers_together_keep_to_the_connection_cap_and_the_send_rate(
    forgot_password_on, smtp_server_factory, start_worker
) -> None:
    """Two workers of 4 connections each against a provider's 3 connections and 12 a minute.

    The server counts the connections open at once; the first minute takes exactly the rate.
    The next minute is brought about by moving the first minute's attempts (and the round
    scheduled for its end) into the past, rather than waited for.
    """
    assert django_settings.DELIVERY_CONNECTIONS == 4
    server = smtp_server_factory(delay_seconds=0.3)
    point_mail_settings_at(server)
    MailServerSettings.objects.filter(pk=1).update(send_rate_per_minute=12, max_connections=3)
    addresses = queue_notices(20)

    workers = [start_worker("worker-a"), start_worker("worker-b")]
    wait_until(lambda: len(server.messages) >= 12, "the first minute's 12 mails", *workers)
    time.sleep(3)  # Time enough for more, were the budget not spent.
    assert len(server.messages) == 12
    assert OutgoingMessage.objects.filter(state=State.QUEUED).count() == 8
    assert not OutgoingMessage.objects.filter(state=State.FAILED).exists()

    minute = timedelta(seconds=61)
    DeliveryAttempt.objects.update(at=F("at") - minute)
    DBTaskResult.objects.filter(run_after__gt=timezone.now()).update(
        run_after=timezone.now() - timedelta(seconds=1)
    )
    wait_until(all_sent, "every mail recorded as sent", *workers)
    for worker in workers:
        worker.stop()

    assert 1 <= server.most_connections_at_once <= 3
    assert server.most_data_at_once <= 3
    received = Counter(message["To"] for message in server.messages)
    assert set(received) == addresses
    assert set(received.values()) == {1}
    assert set(OutgoingMessage.objects.values_list("attempts", flat=True)) == {1}


def test_a_connection_cap_set_while_a_worker_sends_closes_its_surplus_connections(
    forgot_password_on, smtp_server_factory, start_worker
) -> None:
    """An administrator sets Maximum connections to 1 while a worker sends a backlog over its
    4 connections: within seconds the server sees one connection at a time, every mail still
    arrives once, none fails."""
    assert django_settings.DELIVERY_CONNECTIONS == 4
    server = smtp_server_factory(delay_seconds=0.2)
    point_mail_settings_at(server)
    addresses = queue_notices(60)

    worker = start_worker("worker")
    wait_until(lambda: server.connections_now >= 4, "four connections at once", worker)
    MailServerSettings.objects.filter(pk=1).update(max_connections=1)
    changed_at = time.monotonic()
    # The round reads the limits again within a second, lets its mail in flight finish (eight
    # at 0.2 s over four connections) and ends; the next round opens one connection.
    wait_until(lambda: server.connections_now <= 1, "the surplus connections closed", worker)
    assert time.monotonic() - changed_at < 5
    server.most_connections_at_once = server.connections_now
    sent_before = len(server.messages)
    wait_until(lambda: len(server.messages) >= sent_before + 5, "mail over one connection", worker)
    assert server.most_connections_at_once == 1
    worker.stop()

    received = Counter(message["To"] for message in server.messages)
    assert set(received.values()) == {1}
    assert set(received) <= addresses
    assert not OutgoingMessage.objects.filter(state=State.FAILED).exists()


def test_mail_waiting_through_an_outage_is_sent_within_seconds_of_the_servers_return(
    forgot_password_on, smtp_server_factory, start_worker
) -> None:
    """The server goes away, mail fails and waits; the worker's probe finds the server back and
    every waiting mail goes out at once, not 22 to 37 s later as its backoff would have it."""
    server = smtp_server_factory()
    point_mail_settings_at(server)
    worker = start_worker("prober")
    wait_until(lambda: WorkerHeartbeat.objects.exists(), "the worker is up", worker)
    server.stop()
    addresses = queue_notices(5)

    def all_waiting() -> bool:
        rows = OutgoingMessage.objects.all()
        return all(m.state == State.RETRYING and m.waiting_for_server for m in rows)

    wait_until(all_waiting, "every mail waiting for the server", worker)
    backoffs = [m.next_attempt_at for m in OutgoingMessage.objects.all() if m.next_attempt_at]
    assert min(backoffs) > timezone.now() + timedelta(seconds=15)
    time.sleep(1)
    server.start()
    returned_at = time.monotonic()

    wait_until(all_sent, "every waiting mail sent", worker)
    took = time.monotonic() - returned_at
    worker.stop()

    assert took < 15, f"{took:.1f} s after the server's return"
    assert {message["To"] for message in server.messages} == addresses
    assert "The mail server cannot be reached" in worker.log()
    assert "The mail server answers again; 5 mails waiting for it are sent now." in worker.log()
    assert not ServerOutage.objects.exists()


def test_a_throttling_server_slows_every_worker_without_failing_a_mail(
    forgot_password_on, smtp_server_factory, start_worker
) -> None:
    """Answered `421 4.3.2` after 5 mails, two workers hold back together: the refused mails
    cost no attempt, the slow-down is logged once for the installation, and once it has passed
    (moved into the past here) everything arrives exactly once."""
    server = smtp_server_factory(delay_seconds=0.05)
    server.throttle_after = 5
    point_mail_settings_at(server)
    addresses = queue_notices(12)

    workers = [start_worker("worker-a"), start_worker("worker-b")]
    wait_until(lambda: server.throttled >= 1, "a throttling answer", *workers)
    time.sleep(3)  # Time enough for more, were every worker not holding back.
    assert len(server.messages) == 5
    waiting = OutgoingMessage.objects.exclude(state=State.SENT)
    assert waiting.count() == 7
    assert not waiting.filter(state=State.FAILED).exists()
    assert set(waiting.values_list("attempts", flat=True)) == {0}
    logs = "".join(worker.log() for worker in workers)
    assert logs.count("The mail server asked to slow down") == 1

    server.throttle_after = None
    past = timezone.now() - timedelta(seconds=1)
    SendingPause.objects.update(until=past, reduced_until=past)
    waiting.update(next_attempt_at=past)
    DBTaskResult.objects.filter(run_after__gt=timezone.now()).update(run_after=past)
    wait_until(all_sent, "every mail recorded as sent", *workers)
    for worker in workers:
        worker.stop()

    received = Counter(message["To"] for message in server.messages)
    assert set(received) == addresses
    assert set(received.values()) == {1}
