"""The memory of each process of `autommate serve`: `python -m bench --only memory`.

Starts `autommate serve --workers 2` on a fresh database with verified mail settings (a local
mail server) and Forgot Password on, then warms it up as an installation in use: pages, a
log-in, forgot-password requests whose mails the task worker delivers, the health checks. It
reads the resident (RSS) and proportional (PSS, shared pages divided among the processes that
share them) memory of every process from /proc/PID/smaps_rollup; then once more after requests
under one prefix of the JSON API (`/api/v1/users`), which each web worker loads on its first
API request, and again after requests to every prefix, the OpenAPI document and the docs page.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.forgot_password import (
    HOST,
    PRODUCT_PATH,
    Processes,
    environment,
    free_port,
    print_table,
    registered,
    say,
    seed,
    wait_until_serving,
)
from bench.load import run_load
from bench.smtp import SlowMailServer

WARMUP_ROUNDS = 40
RESET_REQUESTS = 40
DELIVERY_TIMEOUT_SECONDS = 60


@dataclass
class Memory:
    role: str
    pid: int
    rss_mib: float
    pss_mib: float


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


def _memory(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, amount, *_ = line.split()
        values[name.rstrip(":")] = int(amount) / 1024
    return values["Rss"], values["Pss"]


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def read_memory(supervisor_pid: int) -> list[Memory]:
    """Return the memory of the supervisor and of every process below it, by role."""
    rows = [Memory("supervisor (`autommate serve`)", supervisor_pid, *_memory(supervisor_pid))]
    pending = _children(supervisor_pid)
    while pending:
        pid = pending.pop(0)
        command = _command(pid)
        grandchildren = _children(pid)
        pending += grandchildren
        if "webserver" in command and grandchildren:
            role = "web server master (gunicorn arbiter)"
        elif "worker" in command and "webserver" not in command:
            role = "task worker (`autommate worker`)"
        else:
            role = "web worker"
        rows.append(Memory(role, pid, *_memory(pid)))
    return rows


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    # A new connection each time, so that the requests spread over the web workers.
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _warm_up_pages(port: int) -> None:
    for _ in range(WARMUP_ROUNDS):
        for path in ("/login/", PRODUCT_PATH, "/healthz", "/readyz", "/reset-password/x/"):
            _get(port, path)
    work = [("registered", registered(n)) for n in range(RESET_REQUESTS)]
    result = run_load(host=HOST, port=port, path=PRODUCT_PATH, work=work, clients=4)
    if result.errors:
        raise RuntimeError(f"forgot-password requests failed: {result.errors[:3]}")


ONE_API_PREFIX = ("/api/v1/users",)
EVERY_API_PREFIX = (
    "/api/v1/mail-server",
    "/api/v1/forgot-password",
    "/api/v1/users",
    "/api/v1/api-tokens",
    "/api/v1/mail-log",
    "/api/v1/audit-events",
    "/api/v1/openapi.json",
    "/api/v1/docs",
)


def _warm_up_api(port: int, token: str, paths: tuple[str, ...]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(WARMUP_ROUNDS):
        for path in paths:
            status = _get(port, path, headers)
            if status != http.HTTPStatus.OK:
                raise RuntimeError(f"GET {path} answered {status}")


def _wait_for_mail(smtp: SlowMailServer, count: int) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while smtp.messages < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the task worker sent {smtp.messages} of {count} mails")
        time.sleep(0.1)


def _admin_token() -> str:
    from django.db import connection

    from autommate.accounts.models import Role, User, email_key
    from autommate.accounts.tokens import api_token_create

    email = "admin@bench.example"
    admin = User.objects.create(email=email, email_key=email_key(email), role=Role.ADMINISTRATOR)
    _token, secret = api_token_create(user=admin, name="bench", expires_at=None)
    connection.close()
    return secret


def measure_memory() -> tuple[list[Memory], list[Memory], list[Memory]]:
    """Return the memory of each process after the page warm-up, after requests under one API
    prefix, and after requests under every prefix."""
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
            seed(users=RESET_REQUESTS, smtp=smtp)
            token = _admin_token()
            port = free_port()
            argv = ["-m", "autommate", "serve", "--host", HOST, "--port", str(port)]
            supervisor = processes.start("serve", [*argv, "--workers", "2"])
            wait_until_serving(supervisor, port, PRODUCT_PATH)
            say("Warming up `autommate serve` with pages and forgot-password requests ...")
            smtp.reset_counts()
            _warm_up_pages(port)
            _wait_for_mail(smtp, RESET_REQUESTS)
            time.sleep(2)  # The task worker records the last outcomes.
            pages = read_memory(supervisor.popen.pid)
            say("Warming up with API requests under one prefix ...")
            _warm_up_api(port, token, ONE_API_PREFIX)
            one_prefix = read_memory(supervisor.popen.pid)
            say("Warming up with API requests under every prefix ...")
            _warm_up_api(port, token, EVERY_API_PREFIX)
            every_prefix = read_memory(supervisor.popen.pid)
            return pages, one_prefix, every_prefix
        finally:
            processes.stop_all()
            smtp.stop()


def run_memory() -> None:
    pages, *later_stages = measure_memory()
    by_pid = [{row.pid: row for row in stage} for stage in later_stages]
    rows = []
    for row in pages:
        cells = [row.role, f"{row.rss_mib:.1f}", f"{row.pss_mib:.1f}"]
        for rows_by_pid in by_pid:
            later = rows_by_pid.get(row.pid)
            cells += [f"{later.rss_mib:.1f}", f"{later.pss_mib:.1f}"] if later else ["-", "-"]
        rows.append(tuple(cells))
    totals = ["all"]
    for stage in (pages, *later_stages):
        totals += [f"{sum(r.rss_mib for r in stage):.1f}", f"{sum(r.pss_mib for r in stage):.1f}"]
    rows.append(tuple(totals))
    print_table(
        f"Memory of `autommate serve --workers 2` (MiB): after {WARMUP_ROUNDS} rounds of pages "
        f"and {RESET_REQUESTS} reset mails, then after {WARMUP_ROUNDS} API requests under "
        f"{ONE_API_PREFIX[0]}, then after {len(EVERY_API_PREFIX) * WARMUP_ROUNDS} more under "
        "every prefix, the OpenAPI document and the docs page",
        ("process", "RSS", "PSS", "RSS 1 API", "PSS 1 API", "RSS all API", "PSS all API"),
        rows,
    )
