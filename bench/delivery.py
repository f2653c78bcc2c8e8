"""Delivery speed: `python -m bench --only delivery`.

Queues forgot-password requests for registered accounts, starts `autommate worker` processes
and times until the local mail server has accepted every mail (each exactly once), at no delay
and at 0.2 s a message, with one worker and with three; then two workers under a send rate limit
of 30 mails a minute and 3 connections, counting the mails accepted in any minute. The memory of
each process is measured by `bench/memory.py`.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.forgot_password import (
    DELIVERY_TIMEOUT_SECONDS,
    Delivery,
    Processes,
    clear_queue,
    count_sent,
    environment,
    measure_delivery,
    print_table,
    queue_requests,
    say,
    seed,
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
        finally:
            processes.stop_all()
            smtp.stop()
    connections = settings.DELIVERY_CONNECTIONS
    print_table(
        f"Delivery of queued reset mails by `autommate worker` ({connections} connections "
        "each; every mail accepted exactly once; times include the workers' start-up; "
        '"sending" counts from the first mail accepted to the last)',
        ("", "mails", "seconds", "mails/s", "mails/s sending", "SMTP connections"),
        [
            (
                f"{run.workers} worker(s), server {run.delay_seconds:g} s a message",
                f"{run.mails:,}",
                f"{run.seconds:.1f}",
                f"{run.rate:.1f}",
                f"{run.sending_rate:.1f}",
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
