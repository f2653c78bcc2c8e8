"""Delivery speed and memory: `python -m bench --only delivery`.

Queues forgot-password requests for registered accounts, starts `autommate worker` processes
and times until the local mail server has accepted every mail (each exactly once), at no delay
and at 0.2 s a message, with one worker and with three. Then starts `autommate serve` and reads
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
    HOST,
    PRODUCT_PATH,
    Delivery,
    Processes,
    environment,
    free_port,
    measure_delivery,
    print_table,
    say,
    seed,
    wait_until_serving,
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
