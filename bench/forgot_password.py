"""The forgot-password benchmark: the product's request path and delivery, and Django's stock view.

Everything runs on this machine: a fresh SQLite file database (or an empty database at
BENCH_DATABASE_URL), an
aiosmtpd server in this process that takes `smtp_delay_seconds` over each message, gunicorn
(2 processes x 4 threads) started by `autommate serve --no-worker` for the product and with the
same configuration for the baseline, and `autommate worker` processes for delivery.

Phases:

1. The product's POST /forgot-password/, half registered and half unknown addresses, from
   `clients` concurrent clients; no worker runs, so the request path is measured alone.
2. Django's PasswordResetView at /baseline/password-reset/ with Django's SMTP backend and the
   same mail server, the same addresses and clients. It sends inside the request.
   Then the product again at a steady rate (`paced_rate` requests a second, an open loop:
   latency counts from when each request was due), first alone and then while an
   `autommate worker` delivers a backlog to a mail server that answers at once, the two
   sharing the database and the cores.
3. Delivery: forgot-password requests queued through the same service the POST calls, then
   one `autommate worker` until every mail is accepted, with the server answering at once
   (the worker's own cost), and a smaller run with the 1 s server and two workers.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from bench.load import LoadResult, percentile, run_load, run_paced_load
from bench.smtp import SlowMailServer

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PRODUCT_PATH = "/forgot-password/"
BASELINE_PATH = "/baseline/password-reset/"
WEB_PROCESSES = 2
STARTUP_SECONDS = 60
DELIVERY_TIMEOUT_SECONDS = 15 * 60


@dataclass
class Plan:
    requests_per_kind: int
    warmup_requests: int
    delivery_mails: int
    slow_delivery_mails: int
    slow_delivery_workers: int
    alone_per_kind: int
    paced_per_kind: int
    busy_backlog: int
    clients: int = 16
    smtp_delay_seconds: float = 1.0
    paced_rate: float = 100.0

    @classmethod
    def full(cls) -> Plan:
        return cls(
            requests_per_kind=300,
            warmup_requests=32,
            delivery_mails=1000,
            slow_delivery_mails=40,
            slow_delivery_workers=2,
            alone_per_kind=15,
            paced_per_kind=300,
            busy_backlog=1500,
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            requests_per_kind=60,
            warmup_requests=16,
            delivery_mails=200,
            slow_delivery_mails=8,
            slow_delivery_workers=2,
            alone_per_kind=4,
            paced_per_kind=100,
            busy_backlog=600,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- Processes ---------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class Processes:
    """Children of the benchmark, each logging to a file; all stopped on the way out."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.running: list[Process] = []

    def start(self, name: str, argv: list[str], **env: str) -> Process:
        log = self.directory / f"{name}.log"
        with log.open("ab") as output:
            popen = subprocess.Popen(
                [sys.executable, *argv],
                env=self.env | env,
                cwd=self.directory,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log)
        self.running.append(process)
        return process

    def run(self, name: str, argv: list[str]) -> None:
        process = self.start(name, argv)
        if process.popen.wait(300) != 0:
            raise RuntimeError(f"{name} failed:\n{process.log.read_text()}")

    def stop_all(self) -> None:
        for process in self.running:
            process.stop()


def wait_until_serving(process: Process, port: int, path: str) -> None:
    import http.client

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.log.read_text()}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer within {STARTUP_SECONDS} s")


@contextmanager
def web_server(processes: Processes, name: str, path: str, **env: str) -> Iterator[int]:
    port = free_port()
    if env.get("DJANGO_SETTINGS_MODULE") == "bench.baseline_settings":
        argv = ["-m", "autommate.delivery.webserver", "--bind", f"{HOST}:{port}"]
        argv += ["--workers", str(WEB_PROCESSES)]
    else:
        argv = ["-m", "autommate", "serve", "--no-worker", "--host", HOST, "--port", str(port)]
        argv += ["--workers", str(WEB_PROCESSES)]
    process = processes.start(name, argv, **env)
    try:
        wait_until_serving(process, port, path)
        yield port
    finally:
        process.stop()


# -- The database ------------------------------------------------------------------------------


def environment(var_dir: Path, smtp: SlowMailServer) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTOMMATE_", "DJANGO_", "REDIS_URL"))
    }
    return inherited | {
        # An empty database of its own: BENCH_DATABASE_URL, or a fresh SQLite file.
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", f"sqlite:///{var_dir / 'bench.sqlite3'}"
        ),
        "DJANGO_SETTINGS_MODULE": "autommate.settings",
        "AUTOMMATE_SECRET_KEY": secrets.token_urlsafe(50),
        "AUTOMMATE_DEBUG": "0",
        "AUTOMMATE_ALLOWED_HOSTS": HOST,
        "AUTOMMATE_VAR_DIR": str(var_dir),
        "AUTOMMATE_LOG_LEVEL": "WARNING",
        "AUTOMMATE_LIMIT_RESET_PER_ADDRESS": "off",
        "AUTOMMATE_LIMIT_RESET_PER_CLIENT": "off",
        # The benchmark's mail server listens on this machine, as a local relay would.
        "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS": f"{smtp.host}:{smtp.port}",
        "BENCH_SMTP_HOST": smtp.host,
        "BENCH_SMTP_PORT": str(smtp.port),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def registered(number: int) -> str:
    return f"member{number}@bench.example"


def unknown(number: int) -> str:
    return f"stranger{number}@bench.example"


def seed(*, users: int, smtp: SlowMailServer) -> None:
    """Create the accounts, the verified mail settings and switch Forgot Password on."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from autommate.accounts.models import User, email_key
    from autommate.mailserver.models import MailServerSettings
    from autommate.mailserver.services import last_working_keep
    from autommate.recovery.models import ForgotPasswordSettings

    password = make_password(secrets.token_urlsafe(16))  # Hashed once: the hasher is slow.
    User.objects.bulk_create(
        [
            User(email=registered(n), email_key=email_key(registered(n)), password=password)
            for n in range(users)
        ],
        batch_size=500,
    )
    mail_server = MailServerSettings(
        pk=1,
        host=smtp.host,
        port=smtp.port,
        protocol="smtp",
        use_tls=False,
        sender_name="Autom Mate",
        sender_email="noreply@bench.example",
        timeout_seconds=10,
    )
    mail_server.verified_fingerprint = mail_server.fingerprint()
    mail_server.save()
    # Settings are verified by a test mail, which also keeps them as the last that worked.
    last_working_keep(sent_through=mail_server.verified_fingerprint)
    ForgotPasswordSettings.objects.update_or_create(
        pk=1, defaults={"enabled": True, "link_lifetime_minutes": 60}
    )
    connection.close()


def clear_queue() -> None:
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from autommate.audit.models import AuditEvent
    from autommate.delivery.models import OutgoingMessage
    from autommate.recovery.models import ResetLink, ResetRequest

    for model in (OutgoingMessage, DBTaskResult, ResetRequest, ResetLink, AuditEvent):
        model.objects.all().delete()
    connection.close()


def queue_requests(count: int) -> None:
    """Queue `count` forgot-password requests through the service the POST calls."""
    from django.db import connection

    from autommate.recovery.services import reset_request

    for number in range(count):
        reset_request(address=registered(number), client_address="192.0.2.10")
    connection.close()


def count_sent() -> int:
    from django.db import connection

    from autommate.delivery.models import OutgoingMessage, State

    sent = OutgoingMessage.objects.filter(state=State.SENT).count()
    connection.close()
    return sent


# -- Phases ------------------------------------------------------------------------------------


def mixed_work(count: int) -> list[tuple[str, str]]:
    work = []
    for number in range(count):
        work += [("registered", registered(number)), ("unknown", unknown(number))]
    return work


@dataclass
class RequestRun:
    concurrent: LoadResult
    alone: LoadResult
    mails: int  # Mails the server accepted during the concurrent run.
    # At a steady rate: alone, then beside a worker delivering, by the server's delay.
    paced: LoadResult | None = None
    paced_beside: dict[float, LoadResult] = field(default_factory=dict)
    mails_beside: dict[float, int] = field(default_factory=dict)
    posted: int = 0  # Requests recorded in all, the backlogs queued beside included.


def measure_requests(
    processes: Processes, plan: Plan, smtp: SlowMailServer, *, baseline: bool
) -> RequestRun:
    """Warm up, then run the concurrent load, then the same addresses from one client."""
    path = BASELINE_PATH if baseline else PRODUCT_PATH
    env = {"DJANGO_SETTINGS_MODULE": "bench.baseline_settings"} if baseline else {}
    name = "baseline" if baseline else "autommate"
    with web_server(processes, name, path, **env) as port:
        warmup = [("unknown", f"warmup{n}@bench.example") for n in range(plan.warmup_requests)]
        run_load(host=HOST, port=port, path=path, work=warmup, clients=plan.clients)
        smtp.reset_counts()
        concurrent = run_load(
            host=HOST,
            port=port,
            path=path,
            work=mixed_work(plan.requests_per_kind),
            clients=plan.clients,
        )
        mails = smtp.messages
        alone = run_load(
            host=HOST, port=port, path=path, work=mixed_work(plan.alone_per_kind), clients=1
        )
        run = RequestRun(concurrent, alone, mails)
        run.posted = plan.warmup_requests + 2 * (plan.requests_per_kind + plan.alone_per_kind)
        if not baseline:
            measure_paced(processes, plan, smtp, port, run)
            check_recorded(run.posted)
        return run


def measure_paced(
    processes: Processes, plan: Plan, smtp: SlowMailServer, port: int, run: RequestRun
) -> None:
    """The POST at a steady rate: alone, then beside a worker delivering a backlog."""
    work = mixed_work(plan.paced_per_kind)

    def paced() -> LoadResult:
        run.posted += len(work)
        return run_paced_load(
            host=HOST, port=port, path=PRODUCT_PATH, work=work, rate=plan.paced_rate, clients=16
        )

    run.paced = paced()
    delay = smtp.delay_seconds
    for server_delay in (delay, 0.0):
        queue_requests(plan.busy_backlog)
        run.posted += plan.busy_backlog
        smtp.delay_seconds = server_delay
        worker = processes.start(f"worker-beside-{server_delay:g}s", ["-m", "autommate", "worker"])
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            smtp.reset_counts()
            while smtp.messages == 0:  # The worker is delivering: measure beside it.
                if worker.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not deliver:\n{worker.log.read_text()}")
                time.sleep(0.05)
            before = smtp.messages
            run.paced_beside[server_delay] = paced()
            run.mails_beside[server_delay] = smtp.messages - before
        finally:
            worker.stop()
            smtp.delay_seconds = delay


def check_recorded(expected: int) -> None:
    """Fail unless every POST recorded its forgot-password request."""
    from django.db import connection

    from autommate.recovery.models import ResetRequest

    recorded = ResetRequest.objects.count()
    connection.close()
    if recorded != expected:
        raise RuntimeError(f"{expected} requests were posted, {recorded} recorded")


@dataclass
class Delivery:
    mails: int
    workers: int
    delay_seconds: float
    seconds: float
    connections: int
    sending_seconds: float = 0.0  # From the first mail accepted to the last.

    @property
    def rate(self) -> float:
        return self.mails / self.seconds

    @property
    def sending_rate(self) -> float:
        """Mails a second once the worker sends: without its start-up and first claim."""
        return (self.mails - 1) / self.sending_seconds if self.sending_seconds else self.rate


def measure_delivery(
    processes: Processes, smtp: SlowMailServer, *, mails: int, workers: int, delay: float
) -> Delivery:
    clear_queue()
    queue_requests(mails)
    smtp.delay_seconds = delay
    smtp.reset_counts()
    started = time.monotonic()
    running = [
        processes.start(f"worker-{delay:g}s-{n}", ["-m", "autommate", "worker"])
        for n in range(workers)
    ]
    deadline = started + DELIVERY_TIMEOUT_SECONDS
    try:
        while smtp.messages < mails:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {smtp.messages} of {mails} mails within the deadline")
            for process in running:
                if process.popen.poll() is not None:
                    raise RuntimeError(f"{process.name} exited:\n{process.log.read_text()}")
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        for process in running:
            process.stop()
    sent = count_sent()
    if sent != mails or smtp.messages != mails or len(set(smtp.recipients)) != mails:
        raise RuntimeError(
            f"expected {mails} mails once each; the log says {sent} sent, the server received "
            f"{smtp.messages} for {len(set(smtp.recipients))} recipients"
        )
    sending = smtp.accepted_at[-1] - smtp.accepted_at[0]
    return Delivery(mails, workers, delay, seconds, smtp.connections, sending)


# -- The table ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def ratio(numerator: float, denominator: float) -> str:
    if denominator <= 0:
        return "-"
    return f"{numerator / denominator:,.1f}x"


def latency_rows(product: RequestRun, baseline: RequestRun) -> list[tuple[str, str, str, str]]:
    ours, theirs = product.concurrent, baseline.concurrent
    rows = []
    for kind in ("registered", "unknown"):
        for label, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            a = percentile(ours.seconds(kind), fraction)
            b = percentile(theirs.seconds(kind), fraction)
            rows.append((f"{kind} {label} (ms)", ms(a), ms(b), ratio(b, a)))
    rows.append(("|median registered - unknown| (ms)", ms(gap(ours)), ms(gap(theirs)), "-"))
    rows.append(
        (
            "requests per second",
            f"{ours.requests_per_second:,.1f}",
            f"{theirs.requests_per_second:,.1f}",
            ratio(ours.requests_per_second, theirs.requests_per_second),
        )
    )
    rows.append(
        (
            "failed requests / statuses",
            f"{len(ours.errors)} / {sorted(ours.statuses)}",
            f"{len(theirs.errors)} / {sorted(theirs.statuses)}",
            "",
        )
    )
    ours, theirs = product.alone, baseline.alone
    for kind in ("registered", "unknown"):
        a, b = median(ours.seconds(kind)), median(theirs.seconds(kind))
        rows.append((f"one client: {kind} p50 (ms)", ms(a), ms(b), ratio(b, a)))
    rows.append(("one client: |median difference| (ms)", ms(gap(ours)), ms(gap(theirs)), "-"))
    return rows


def paced_rows(run: RequestRun) -> list[tuple[str, ...]]:
    assert run.paced is not None
    results = [run.paced, *run.paced_beside.values()]
    rows: list[tuple[str, ...]] = []
    for kind in ("registered", "unknown"):
        for label, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            rows.append(
                (
                    f"{kind} {label} (ms)",
                    *(ms(percentile(result.seconds(kind), fraction)) for result in results),
                )
            )
    rows.append(
        (
            "worst (ms)",
            *(ms(max(sample.seconds for sample in result.samples)) for result in results),
        )
    )
    rows.append(
        (
            "mails delivered meanwhile",
            "0 (no worker)",
            *(f"{mails:,}" for mails in run.mails_beside.values()),
        )
    )
    rows.append(
        (
            "failed requests / statuses",
            *(f"{len(result.errors)} / {sorted(result.statuses)}" for result in results),
        )
    )
    return rows


def gap(result: LoadResult) -> float:
    """Return how far apart the median answers for registered and unknown addresses are."""
    return abs(median(result.seconds("registered")) - median(result.seconds("unknown")))


def print_table(title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * width for width in widths)
    print(title)
    print(line)
    print(
        "  ".join(
            cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(header)
        )
    )
    print(line)
    for row in rows:
        print(
            "  ".join(
                cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            )
        )
    print(line)


def report(
    plan: Plan,
    product: RequestRun,
    baseline: RequestRun,
    deliveries: list[Delivery],
    database: str,
) -> None:
    total = 2 * plan.requests_per_kind
    print()
    print_table(
        f"Forgot-password POST: {total} requests ({plan.requests_per_kind} registered, "
        f"{plan.requests_per_kind} unknown, interleaved), {plan.clients} concurrent clients, "
        f"gunicorn {WEB_PROCESSES} processes x 4 threads, {database}, SMTP server taking "
        f"{plan.smtp_delay_seconds:g} s per message",
        ("", "Autom Mate", "Django PasswordResetView", "Autom Mate advantage"),
        latency_rows(product, baseline),
    )
    print(
        f"Mails sent during the concurrent requests: Autom Mate {product.mails} (no worker "
        f"runs: the request path only queues), Django {baseline.mails} (sent inside the "
        f"request). One client: {plan.alone_per_kind} + {plan.alone_per_kind} requests in turn."
    )
    print()
    print_table(
        f"Forgot-password POST at a steady {plan.paced_rate:g} requests a second "
        f"({2 * plan.paced_per_kind} requests, an open loop: latency from when each was due)",
        (
            "",
            "alone",
            *(f"beside a worker, server {delay:g} s/message" for delay in product.paced_beside),
        ),
        paced_rows(product),
    )
    print(
        f"Beside: one `autommate worker` delivering a backlog of {plan.busy_backlog:,} reset "
        "mails, sharing the database and the 2 cores with the web server, the mail server and "
        "this benchmark."
    )
    print()
    rows = []
    for delivery in deliveries:
        rows.append(
            (
                f"{delivery.mails:,} mails, server {delivery.delay_seconds:g} s/message, "
                f"{delivery.workers} worker{'s' if delivery.workers > 1 else ''}",
                f"{delivery.seconds:,.1f}",
                f"{delivery.rate:,.1f}",
                f"{delivery.sending_rate:,.1f}",
                f"{delivery.connections:,}",
                f"{1000 / delivery.rate:,.0f}",
            )
        )
    print_table(
        "Delivery by `autommate worker` (forgot-password requests queued, worker started, "
        "until the server has accepted every mail)",
        ("", "seconds", "mails/s", "mails/s sending", "SMTP connections", "1,000 mails (s)"),
        rows,
    )
    from django.conf import settings

    print(
        f"Each worker sends on up to {settings.DELIVERY_CONNECTIONS} SMTP connections at once "
        "(AUTOMMATE_DELIVERY_CONNECTIONS), each reused for many mails; the last column "
        'extrapolates the measured rate. Times include the workers\' start-up; "sending" counts '
        "from the first mail accepted to the last."
    )


def run(plan: Plan) -> None:
    with tempfile.TemporaryDirectory(prefix="autommate-bench-") as directory:
        var_dir = Path(directory)
        smtp = SlowMailServer(delay_seconds=plan.smtp_delay_seconds).start()
        env = environment(var_dir, smtp)
        processes = Processes(var_dir, env)
        try:
            say(f"Preparing a database in {var_dir} ...")
            processes.run("migrate", ["-m", "autommate", "migrate", "--noinput"])
            os.environ.update(env)
            import django

            django.setup()
            seed(users=max(plan.requests_per_kind, plan.delivery_mails), smtp=smtp)
            database = "PostgreSQL" if "postgres" in env["DATABASE_URL"] else "SQLite"

            say("Measuring the Autom Mate forgot-password POST ...")
            product = measure_requests(processes, plan, smtp, baseline=False)
            say("Measuring Django's PasswordResetView (it waits for the mail server) ...")
            baseline = measure_requests(processes, plan, smtp, baseline=True)
            deliveries = []
            say(f"Delivering {plan.delivery_mails} queued mails, server answering at once ...")
            deliveries.append(
                measure_delivery(processes, smtp, mails=plan.delivery_mails, workers=1, delay=0.0)
            )
            say(
                f"Delivering {plan.slow_delivery_mails} queued mails, server taking "
                f"{plan.smtp_delay_seconds:g} s each ..."
            )
            deliveries.append(
                measure_delivery(
                    processes,
                    smtp,
                    mails=plan.slow_delivery_mails,
                    workers=plan.slow_delivery_workers,
                    delay=plan.smtp_delay_seconds,
                )
            )
            report(plan, product, baseline, deliveries, database)
        finally:
            processes.stop_all()
            smtp.stop()
