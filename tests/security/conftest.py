"""What the security suite shares: a mailbox behind the real SMTP server, and the reset journey.

Every test here drives the application over HTTP with Django's test client; mail is sent by the
real delivery queue to the aiosmtpd server of tests/smtp_server.py and read back from it.
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.smtp_server import ReceivedMessage, SMTPTestServer

LINK = re.compile(r"(https?://[^/\s\"'<>]+)/reset-password/([^/\s\"'<>]+)/")
CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
NEW_PASSWORD = "a fresh passphrase nobody could guess 7"


@dataclass
class Mailbox:
    """The test SMTP server plus the worker that feeds it: `deliver()` returns new mail."""

    server: SMTPTestServer
    run_worker: Any
    seen: int = 0
    received: list[ReceivedMessage] = field(default_factory=list)

    def deliver(self) -> list[ReceivedMessage]:
        self.run_worker()
        fresh = self.server.messages[self.seen :]
        self.seen = len(self.server.messages)
        self.received.extend(fresh)
        return fresh

    def deliver_one(self) -> ReceivedMessage:
        fresh = self.deliver()
        assert len(fresh) == 1, [m["Subject"] for m in fresh]
        return fresh[0]


@pytest.fixture
def mailbox(forgot_password_on, smtp_server: SMTPTestServer, run_worker) -> Mailbox:
    """Forgot Password switched on, its mail going to the test SMTP server."""
    return Mailbox(smtp_server, run_worker)


@dataclass
class Clock:
    """The rate limiter's clock, started one hour into a day so that windows are predictable."""

    now: float = 86400.0 * 20_000 + 3600

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("autommate.ratelimits.services.time", clock)
    return clock


def text_of(message: ReceivedMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: ReceivedMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def everything_in(message: ReceivedMessage) -> str:
    """Return the headers and every decoded part of a message, for "appears nowhere" checks."""
    parts = [str(message)]
    for part in message.walk():
        if not part.is_multipart():
            parts.append(str(part.get_content()))
    return "\n".join(parts)


def reset_link(message: ReceivedMessage) -> str:
    """Return the one reset link of a reset mail, the same in its HTML and its text part."""
    found = {m.group(0) for m in LINK.finditer(html_of(message))}
    assert found == {m.group(0) for m in LINK.finditer(text_of(message))}
    assert len(found) == 1, found
    return found.pop()


def token_of(link: str) -> str:
    match = LINK.fullmatch(link)
    assert match, link
    return match.group(2)


def path_of(link: str) -> str:
    match = LINK.fullmatch(link)
    assert match, link
    return link.removeprefix(match.group(1))


def request_reset(client: Client, address: str, **extra: Any):
    return client.post("/forgot-password/", {"email": address}, **extra)


def open_link(client: Client, link: str, **extra: Any):
    response = client.get(path_of(link), **extra)
    assert response.status_code == HTTPStatus.FOUND, response.status_code
    assert response["Location"] == "/reset-password/"
    return response


def choose_password(client: Client, password: str = NEW_PASSWORD, **extra: Any):
    return client.post(
        "/reset-password/", {"new_password1": password, "new_password2": password}, **extra
    )


def request_link(client: Client, mailbox: Mailbox, address: str) -> str:
    """Ask for a reset of `address` and return the link the worker mailed for it."""
    assert request_reset(client, address).status_code == HTTPStatus.FOUND
    return reset_link(mailbox.deliver_one())


def without_csrf_token(body: bytes | str) -> str:
    """Return a page with its per-render CSRF token blanked, so two renders can be compared."""
    text = body.decode() if isinstance(body, bytes) else body
    return CSRF_VALUE.sub(r"\1\2", text)


def signed_in(client: Client) -> bool:
    """Say whether the client's session still signs it in, as the home page sees it."""
    return client.get("/").status_code == HTTPStatus.OK


@pytest.fixture
def every_log_line(caplog) -> Iterator[io.StringIO]:
    """Log everything at DEBUG, SQL included, and collect the lines the product writes."""
    console = logging.getHandlerByName("console")
    assert isinstance(console, logging.StreamHandler)
    written = io.StringIO()
    previous_stream = console.setStream(written)
    names = ["", "django", "django.request", "django.db.backends", "django.security", "autommate"]
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True
    try:
        yield written
    finally:
        connection.force_debug_cursor = False
        console.setStream(previous_stream)


def everything_stored() -> str:
    """Return every value of every row of every table, sessions decoded, as one text."""
    from django.apps import apps
    from django.contrib.sessions.models import Session

    rows = [repr(row) for model in apps.get_models() for row in model._default_manager.values()]
    rows += [repr(session.get_decoded()) for session in Session.objects.all()]
    return "\n".join(rows)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that notices any connection: accept() succeeds only if someone connected."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.3)
        yield sock


def connected(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except TimeoutError:
        return False
    return True


def mail_form(server: SMTPTestServer | None = None, **overrides: Any) -> dict[str, Any]:
    """Return the mail server page's fields for `server` (plain SMTP), with `overrides`."""
    data: dict[str, Any] = {
        "host": server.host if server else "smtp.example.org",
        "port": server.port if server else 587,
        "protocol": "smtp",
        "sender_name": "Autom Mate",
        "sender_email": "noreply@example.org",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# -- The real web server --------------------------------------------------------------------------


@dataclass
class WebServer:
    """gunicorn serving the application as `autommate serve` runs it, and what it logged."""

    port: int
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


class Browser:
    """A minimal browser over http.client: raw request lines and headers, and a cookie jar."""

    def __init__(self, server: WebServer) -> None:
        self.server = server
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        target: str,
        *,
        host: str | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, str]:
        """Send one request; `target` may be absolute-form (a whole URL) as proxies send it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or self.server.host)
        if self.cookies:
            conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        body = urlencode(fields).encode() if fields is not None else b""
        if fields is not None:
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        text = response.read().decode()
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response, text

    def submit(
        self, page: str, fields: dict[str, str], *, target: str | None = None, **kwargs: Any
    ) -> tuple[http.client.HTTPResponse, str]:
        """GET a form page for its CSRF token, then POST `fields` to it (or to `target`)."""
        _, form = self.request("GET", page)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert match, form[:300]
        fields = {"csrfmiddlewaretoken": match.group(1), **fields}
        return self.request("POST", target or page, fields=fields, **kwargs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def web_server(transactional_db, tmp_path: Path) -> Iterator[WebServer]:
    """Run gunicorn with the product's logging on the test database, logging to a file."""
    port = _free_port()
    log = tmp_path / "web.log"
    env = dict(os.environ)
    env |= {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "AUTOMMATE_VAR_DIR": str(settings.VAR_DIR),
        "AUTOMMATE_LOG_LEVEL": "DEBUG",
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "autommate.delivery.webserver",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    logged = log.read_text()
                    raise AssertionError(f"The web server did not start:\n{logged}") from None
                time.sleep(0.1)
        yield WebServer(port, log)
    finally:
        process.terminate()
        process.wait(timeout=15)
