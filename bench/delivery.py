"""Delivery speed: `python -m bench --only delivery`.

Queues forgot-password requests for registered accounts, starts `autommate worker` processes
and times until the local mail server has accepted every mail (each exactly once), at no delay
and at 0.2 s a message, with one worker and with three. The memory of each process is measured
by `bench/memory.py`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.forgot_password import (
    Delivery,
    Processes,
    environment,
    measure_delivery,
    print_table,
    say,
    seed,
)
from bench.smtp import SlowMailServer

SLOW_SECONDS = 0.2


@dataclass
class DeliveryPlan:
    mails: int = 1000
    many_workers: int = 3

    @classmethod
    def quick(cls) -> DeliveryPlan:
        return cls(mails=200)


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
