"""Delivery speed and memory: `python -m bench --only delivery`.

Queues forgot-password requests for registered accounts, starts `autommate worker` processes
and times until the local mail server has accepted every mail (each exactly once), at no delay
and at 0.2 s a message, with one worker and with three; then two workers under a send rate limit
of 30 mails a minute and 3 connections, counting the mails accepted in any minute. Then starts
`autommate serve` and reads
the resident (RSS) and proportional (PSS) memory of the supervisor, its web workers and its task
worker from /proc/PID/smaps_rollup.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.forgot_password import (
    DELIVERY_TIMEOUT_SECONDS,
    HOST,
    PRODUCT_PATH,
    Delivery,
    Processes,
    clear_queue,
    count_sent,
    environment,
    free_port,
    measure_delivery,
    print_table,
    queue_requests,
    say,
    seed,
    wait_until_serving,
)
from bench.smtp import SlowMailServer

SLOW_SECONDS = 0.2


# The send rate limit measured: Exchange Online's.
PACED_PER_MINUTE = 30
PACED_CONNECTIONS = 3


@dataclass
class DeliveryPlan:
    mails: int = 1000
    many_workers: int = 3
    # Mails under the send rate limit: three minutes' worth (two in a quick run).
    paced_mails: int = 3 * PACED_PER_MINUTE

    @classmethod
    def quick(cls) -> DeliveryPlan:
        return cls(mails=200, paced_mails=2 * PACED_PER_MINUTE)


@dataclass
class PacedDelivery:
    mails: int
    seconds: float
    most_in_a_minute: int
    # Mails a minute once the first minute's budget is spent: the steady rate.
    steady_per_minute: float
    connections: int


def measure_paced_delivery(
    processes: Processes, smtp: SlowMailServer, *, mails: int
) -> PacedDelivery:
    """Deliver `mails` through two workers under the send rate limit; count them per minute."""
    from django.db import connection

    from autommate.mailserver.models import MailServerSettings

    MailServerSettings.objects.filter(pk=1).update(
        send_rate_per_minute=PACED_PER_MINUTE, max_connections=PACED_CONNECTIONS
    )
    connection.close()
    clear_queue()
    queue_requests(mails)
    smtp.delay_seconds = SLOW_SECONDS
    smtp.reset_counts()
    started = time.monotonic()
    running = [
        processes.start(f"worker-paced-{n}", ["-m", "autommate", "worker"]) for n in range(2)
    ]
    try:
        while smtp.messages < mails:
            if time.monotonic() > started + DELIVERY_TIMEOUT_SECONDS:
                raise RuntimeError(f"only {smtp.messages} of {mails} mails within the deadline")
            time.sleep(0.1)
        seconds = time.monotonic() - started
    finally:
        for process in running:
            process.stop()
        MailServerSettings.objects.filter(pk=1).update(
            send_rate_per_minute=None, max_connections=None
        )
        connection.close()
    if count_sent() != mails or len(set(smtp.recipients)) != mails:
        raise RuntimeError(f"expected {mails} mails once each")
    times = sorted(smtp.accepted_at)
    most = max(sum(1 for other in times if start <= other < start + 60) for start in times)
    first_minute_spent = times[PACED_PER_MINUTE - 1]
    later = len(times) - PACED_PER_MINUTE
    steady = later / ((times[-1] - first_minute_spent) / 60) if later else 0.0
    return PacedDelivery(mails, seconds, most, steady, smtp.connections)


@dataclass
class Memory:
    role: str
    rss_mib: float
    pss_mib: float


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children += [int(child) for child in text]
    return children


def _memory(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, amount, *_ = line.split()
        values[name.rstrip(":")] = int(amount) / 1024
    return values["Rss"], values["Pss"]


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def measure_memory(processes: Processes) -> list[Memory]:
    """Start `autommate serve` (two web workers and a task worker) and read each one's memory."""
    port = free_port()
    argv = ["-m", "autommate", "serve", "--host", HOST, "--port", str(port), "--workers", "2"]
    supervisor = processes.start("serve", argv)
    try:
        wait_until_serving(supervisor, port, PRODUCT_PATH)
        time.sleep(3)  # Let the task worker finish starting.
        rows = [Memory("supervisor (`autommate serve`)", *_memory(supervisor.popen.pid))]
        pending = _children(supervisor.popen.pid)
        while pending:
            pid = pending.pop()
            command = _command(pid)
            grandchildren = _children(pid)
            pending += grandchildren
            if "worker" in command and "gunicorn" not in command and "webserver" not in command:
                role = "task worker"
            elif grandchildren:
                role = "web server master"
            else:
                role = "web worker"
            rows.append(Memory(f"{role} ({pid})", *_memory(pid)))
        return rows
    finally:
        supervisor.stop()


def run_delivery(plan: DeliveryPlan) -> None:
    with tempfile.TemporaryDirectory(prefix="autommate-bench-") as directory:
        var_dir = Path(directory)
        smtp = SlowMailServer(delay_seconds=0.0).start()
        env = environment(var_dir, smtp)
        processes = Processes(var_dir, env)
        try:
            say(f"Preparing a database in {var_dir} ...")
            processes.run("migrate", ["-m", "autommate", "migrate", "--noinput"])
            os.environ.update(env)
            import django

            django.setup()
            from django.conf import settings

            seed(users=plan.mails, smtp=smtp)
            runs: list[Delivery] = []
            for workers, delay in [(1, 0.0), (1, SLOW_SECONDS), (plan.many_workers, SLOW_SECONDS)]:
                say(
                    f"Delivering {plan.mails} mails: {workers} worker(s), {delay:g} s a message ..."
                )
                runs.append(
                    measure_delivery(
                        processes, smtp, mails=plan.mails, workers=workers, delay=delay
                    )
                )
            say(
                f"Delivering {plan.paced_mails} mails under a send rate limit of "
                f"{PACED_PER_MINUTE} a minute and {PACED_CONNECTIONS} connections: 2 workers ..."
            )
            paced = measure_paced_delivery(processes, smtp, mails=plan.paced_mails)
            say("Reading the memory of `autommate serve` ...")
            memory = measure_memory(processes)
        finally:
            processes.stop_all()
            smtp.stop()
    connections = settings.DELIVERY_CONNECTIONS
    print_table(
        f"Delivery of queued reset mails by `autommate worker` ({connections} connections "
        "each; every mail accepted exactly once; times include the workers' start-up)",
        ("", "mails", "seconds", "mails/s", "SMTP connections"),
        [
            (
                f"{run.workers} worker(s), server {run.delay_seconds:g} s a message",
                f"{run.mails:,}",
                f"{run.seconds:.1f}",
                f"{run.rate:.1f}",
                str(run.connections),
            )
            for run in runs
        ],
    )
    print_table(
        f"Delivery under a send rate limit of {PACED_PER_MINUTE} mails a minute and "
        f"{PACED_CONNECTIONS} connections (2 workers of {connections} connections, server "
        f"{SLOW_SECONDS:g} s a message)",
        (
            "mails",
            "seconds",
            "most in any minute",
            "mails/minute after the first minute",
            "SMTP connections",
        ),
        [
            (
                str(paced.mails),
                f"{paced.seconds:.1f}",
                str(paced.most_in_a_minute),
                f"{paced.steady_per_minute:.1f}",
                str(paced.connections),
            )
        ],
    )
    print_table(
        "Memory under `autommate serve --workers 2` after start-up (MiB)",
        ("process", "RSS", "PSS"),
        [(row.role, f"{row.rss_mib:.1f}", f"{row.pss_mib:.1f}") for row in memory]
        + [
            (
                "all",
                f"{sum(row.rss_mib for row in memory):.1f}",
                f"{sum(row.pss_mib for row in memory):.1f}",
            )
        ],
    )
