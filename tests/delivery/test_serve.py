"""`autommate setup` and `autommate serve`, run as an operator runs them: in their own processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlencode

import pytest

from autommate.delivery.management.commands.serve import Child, Supervisor

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def descendants(pid: int) -> set[int]:
    """Return the processes started, directly or not, by a process (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # The parent id follows the command name, which may itself hold ") ".
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
                parents[int(entry.name)] = int(stat[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    running = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            running.add(pid)
    return running


def environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """Return the test process's environment without its Django settings, for a fresh install."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTOMMATE_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env |= {
        "DATABASE_URL": f"sqlite:///{var_dir / 'autommate.sqlite3'}",
        "AUTOMMATE_DEBUG": "1",
        "AUTOMMATE_VAR_DIR": str(var_dir),
        "AUTOMMATE_ENV_FILE": os.devnull,
        **extra,
    }
    return env


def autommate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autommate", *args],
        env=env,
        cwd=env["AUTOMMATE_VAR_DIR"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Installation:
    var_dir: Path
    env: dict[str, str]
    first_setup: subprocess.CompletedProcess[str]
    password: str


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    var_dir = tmp_path_factory.mktemp("var")
    env = environment(var_dir)
    first = autommate("setup", env=env)
    assert first.returncode == 0, first.stderr
    match = re.search(r"Password: (\S+)", first.stdout)
    assert match, first.stdout
    return Installation(var_dir, env, first, match.group(1))


def test_setup_prints_a_generated_password_once(installation: Installation) -> None:
    output = installation.first_setup.stdout

    assert "admin@example.org" in output
    assert output.count(installation.password) == 1
    assert len(installation.password) >= 20


def test_setup_again_creates_nothing(installation: Installation) -> None:
    again = autommate("setup", env=installation.env)

    assert again.returncode == 0, again.stderr
    assert "An administrator exists" in again.stdout
    assert "Password" not in again.stdout


def test_setup_uses_the_password_from_the_environment(tmp_path: Path) -> None:
    env = environment(
        tmp_path,
        DJANGO_SUPERUSER_EMAIL="ops@example.org",
        DJANGO_SUPERUSER_PASSWORD="operator chosen passphrase",
    )

    result = autommate("setup", env=env)

    assert result.returncode == 0, result.stderr
    assert "ops@example.org" in result.stdout
    assert "operator chosen passphrase" not in result.stdout


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early:\n{self.log()}"
            try:
                if self.request("GET", "/login/").status == HTTPStatus.OK:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"serve did not answer within {STARTUP_TIMEOUT_SECONDS} s:\n{self.log()}")


@pytest.fixture
def serve(installation: Installation, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `autommate serve` with extra arguments; kill whatever is left afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **env: str) -> Server:
        port = free_port()
        output = tmp_path / f"serve-{port}.log"
        with output.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "autommate", "serve", "--port", str(port), *args],
                env=installation.env | {"AUTOMMATE_SECRET_KEY": "serve-test-secret-key-" * 3} | env,
                cwd=installation.var_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        server = Server(process, port, output)
        server.wait_until_ready()
        return server

    yield start

    for process in started:
        left = descendants(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(STOP_TIMEOUT_SECONDS)
        for pid in alive(left | {process.pid}):
            os.kill(pid, signal.SIGKILL)
        process.wait()


def test_serve_answers_and_the_generated_password_signs_in(
    serve: Callable[..., Server], installation: Installation
) -> None:
    server = serve("--no-worker")

    page = server.request("GET", "/login/")
    assert page.status == HTTPStatus.OK
    cookie = re.search(r"csrftoken=([^;]+)", page.headers["Set-Cookie"] or "")
    assert cookie

    signed_in = server.request(
        "POST",
        "/login/",
        body=urlencode(
            {
                "csrfmiddlewaretoken": cookie.group(1),
                "username": "admin@example.org",
                "password": installation.password,
            }
        ),
        headers={
            "Cookie": f"csrftoken={cookie.group(1)}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert signed_in.status == HTTPStatus.FOUND, server.log()
    assert signed_in.headers["Location"] == "/"
    assert "http://127.0.0.1:8000/login/" in server.log()
    assert "/dev/mail/" in server.log()


def test_serve_stops_its_processes_on_sigterm(serve: Callable[..., Server]) -> None:
    server = serve("--no-worker", "--dev-mail", AUTOMMATE_DEV_MAIL_PORT=str(free_port()))
    children = descendants(server.process.pid)
    assert len(children) >= 3  # the web server, its worker processes, the mail catcher

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(STOP_TIMEOUT_SECONDS) == 0, server.log()
    assert not alive(children)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


def test_serve_with_dev_mail_catches_mail_over_smtp(
    serve: Callable[..., Server], installation: Installation
) -> None:
    smtp_port = free_port()
    server = serve("--no-worker", "--dev-mail", AUTOMMATE_DEV_MAIL_PORT=str(smtp_port))
    message = EmailMessage()
    message["From"] = "noreply@example.org"
    message["To"] = "mike@example.org"
    message["Subject"] = "Caught by the catcher"
    message.set_content("Hello.")

    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
                smtp.login("any", "thing")
                smtp.send_message(message)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)

    assert f"127.0.0.1:{smtp_port}" in server.log()
    assert list((installation.var_dir / "devmail").glob("*.eml"))
    listing = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    listing.request("GET", "/dev/mail/")
    assert "Caught by the catcher" in listing.getresponse().read().decode()
    listing.close()


def test_supervisor_restarts_a_child_that_dies(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    flaky = Child("task worker", [sys.executable, "-c", f"open({str(starts)!r}, 'a').write('x')"])
    web = Child(
        "web server",
        [sys.executable, "-c", "import time; time.sleep(2); raise SystemExit(3)"],
        essential=True,
    )

    assert Supervisor([web, flaky]).run() == 3
    assert starts.read_text() == "xx"
