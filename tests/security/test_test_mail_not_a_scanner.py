"""Point 16: the test mail cannot be turned into a network scanner or a metadata-service probe.

Answers server-side request forgery through "test the connection" features (ASVS 5.0 V1.3.6 and
V15 SSRF protection: allow lists of destinations; OWASP SSRF Prevention Cheat Sheet: refuse
loopback, private and link-local addresses such as 169.254.169.254, however they are spelled).
Only public addresses are reached unless an operator names others; a port where no mail server
answers reads the same whether it is closed, silent or another service, and nothing that is not
an SMTP reply is repeated. Administrators only, rate limited, audited.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from autommate.accounts.models import Role, User
from autommate.audit.models import Action, AuditEvent
from autommate.delivery.models import Kind, OutgoingMessage
from autommate.mailserver.models import MailServerSettings
from tests.smtp_server import SMTPTestServer

from .conftest import Clock, Mailbox, connected, mail_form, request_reset

pytestmark = pytest.mark.django_db

REAL_GETADDRINFO = socket.getaddrinfo


def send_test(client: Client, server: SMTPTestServer | None = None, **overrides: Any):
    values = mail_form(server, **{"test_recipient": "ops@example.org", **overrides})
    return client.post("/settings/mail/test/", values)


def test_only_administrators_may_send_a_test_mail(
    client: Client, user_client: Client, smtp_server: SMTPTestServer, listener: socket.socket
) -> None:
    target = {"host": "127.0.0.1", "port": listener.getsockname()[1]}
    assert send_test(client, **target)["Location"].startswith("/login/")
    assert send_test(user_client, **target).status_code == HTTPStatus.FORBIDDEN
    api = user_client.post(
        "/api/v1/mail-server/test",
        {"recipient": "ops@example.org", "settings": {**mail_form(smtp_server), "use_tls": False}},
        content_type="application/json",
    )
    assert api.status_code in {HTTPStatus.FORBIDDEN, HTTPStatus.UNAUTHORIZED}

    assert not connected(listener)
    assert smtp_server.commands == []
    assert not AuditEvent.objects.filter(action=Action.TEST_MAIL_SENT).exists()


def test_ten_test_mails_a_minute_per_administrator_each_audited(
    admin_client: Client, smtp_server: SMTPTestServer, clock: Clock
) -> None:
    for number in range(10):
        assert send_test(admin_client, smtp_server).status_code == HTTPStatus.OK, number

    limited = send_test(admin_client, smtp_server, sender_name="Paused Sender")

    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Send test mail saves what it tests; a refused one saves nothing either.
    assert MailServerSettings.objects.get().sender_name != "Paused Sender"
    assert 0 < int(limited["Retry-After"]) <= 60
    assert "Too many test mails" in limited.content.decode()
    assert len(smtp_server.wait_for(10)) == 10
    other = User.objects.create_user("ops@example.org", "x" * 20, role=Role.ADMINISTRATOR)
    other_client = Client()
    other_client.force_login(other)
    assert send_test(other_client, smtp_server).status_code == HTTPStatus.OK

    sent = AuditEvent.objects.filter(action=Action.TEST_MAIL_SENT)
    assert sent.count() == 11
    assert {e.detail["result"] for e in sent} == {"accepted"}
    assert (
        AuditEvent.objects.filter(action=Action.RATE_LIMITED, detail__limit="test-mail").count()
        == 1
    )
    clock.advance(60)
    assert send_test(admin_client, smtp_server).status_code == HTTPStatus.OK


@pytest.fixture
def metadata_name(monkeypatch) -> str:
    """A server name that resolves to the cloud metadata address, as DNS could make any name."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "metadata.attacker.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "metadata.attacker.example"


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254", "metadata.attacker.example"]
)
@pytest.mark.parametrize("allowed", ["", "169.254.0.0/16,fe80::/10,metadata.attacker.example"])
def test_link_local_destinations_are_always_refused(
    admin_client: Client, metadata_name: str, settings, host: str, allowed: str
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = allowed

    response = send_test(admin_client, host=host, port=25)

    page = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "link-local" in page
    event = AuditEvent.objects.get(action=Action.TEST_MAIL_SENT)
    assert event.detail["result"] == "failed at connect"
    assert event.actor is not None
    assert event.client_address == "127.0.0.1"


def test_operator_can_restrict_destinations_further(
    admin_client: Client, smtp_server: SMTPTestServer, listener: socket.socket, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "10.0.0.0/8,smtp.example.org"

    refused = send_test(admin_client, host="127.0.0.1", port=listener.getsockname()[1])

    assert "not among the destinations" in refused.content.decode()
    assert not connected(listener)
    settings.MAIL_ALLOWED_DESTINATIONS = "127.0.0.0/8"
    assert "Accepted by the server" in send_test(admin_client, smtp_server).content.decode()
    settings.MAIL_ALLOWED_DESTINATIONS = "localhost"
    named = send_test(admin_client, smtp_server, host="localhost")
    assert "Accepted by the server" in named.content.decode()


def test_queued_mail_respects_the_allowed_destinations(
    mailbox: Mailbox, regular_user: User, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "10.0.0.0/8"

    request_reset(Client(), regular_user.email)

    assert mailbox.deliver() == []
    assert mailbox.server.commands == []
    message = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert "not among the destinations" in message.last_error


@pytest.fixture
def internal_names(monkeypatch) -> dict[str, str]:
    """Names that DNS makes lead inside: to this machine, and to a private network."""
    names = {"redis.internal.example": "127.0.0.1", "db.internal.example": "10.20.30.40"}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        # Odd spellings that the resolver turns into the loopback or the unspecified address.
        "0",
        "0.0.0.0",
        "2130706433",
        "0x7f.1",
        "127.1",
        "::ffff:127.0.0.1",
        "::1",
        "redis.internal.example",
        "db.internal.example",
        "10.0.0.1",
        "192.168.1.1",
        "100.64.0.1",
    ],
)
def test_loopback_private_and_special_addresses_are_refused_by_default(
    admin_client: Client,
    listener: socket.socket,
    internal_names: dict[str, str],
    settings,
    host: str,
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ""

    response = send_test(admin_client, host=host, port=listener.getsockname()[1])

    page = response.content.decode()
    assert "not among the destinations this installation may connect to" in page
    assert "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS" in page
    assert not connected(listener)
    if host in internal_names:
        # Where an internal name leads stays unsaid.
        assert internal_names[host] not in page
        assert "leads to an address this installation may not connect to" in page
    event = AuditEvent.objects.get(action=Action.TEST_MAIL_SENT)
    assert event.detail["result"] == "failed at connect"


def test_an_operator_allows_a_local_relay_by_naming_it_with_its_port(
    admin_client: Client, smtp_server: SMTPTestServer, listener: socket.socket, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = f"public,127.0.0.1:{smtp_server.port}"

    accepted = send_test(admin_client, smtp_server)
    other_port = send_test(admin_client, smtp_server, port=listener.getsockname()[1])

    assert "Accepted by the server" in accepted.content.decode()
    assert "not among the destinations" in other_port.content.decode()
    assert not connected(listener)
    settings.MAIL_ALLOWED_DESTINATIONS = f"localhost:{smtp_server.port}"
    named = send_test(admin_client, smtp_server, host="localhost")
    assert "Accepted by the server" in named.content.decode()


def test_debug_mode_allows_the_development_mail_catcher_and_nothing_else(
    admin_client: Client, smtp_server: SMTPTestServer, listener: socket.socket, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ""
    settings.DEV_MAIL_PORT = smtp_server.port
    settings.DEBUG = True

    catcher = send_test(admin_client, smtp_server, host="127.0.0.1")
    elsewhere = send_test(admin_client, smtp_server, port=listener.getsockname()[1])
    settings.DEBUG = False
    in_production = send_test(admin_client, smtp_server, host="127.0.0.1")

    assert "Accepted by the server" in catcher.content.decode()
    assert "not among the destinations" in elsewhere.content.decode()
    assert not connected(listener)
    assert "not among the destinations" in in_production.content.decode()
    assert len(smtp_server.wait_for(1)) == 1


def test_queued_mail_to_a_refused_destination_names_what_to_set(
    mailbox: Mailbox, regular_user: User, settings
) -> None:
    # An installation upgraded with its mail server on this machine, and nothing configured yet.
    settings.MAIL_ALLOWED_DESTINATIONS = ""

    request_reset(Client(), regular_user.email)

    assert mailbox.deliver() == []
    assert mailbox.server.commands == []
    message = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS" in message.last_error
    assert f"127.0.0.1:{mailbox.server.port}" in message.last_error


# -- Ports where no mail server answers -----------------------------------------------------------

SECRET_WORDS = "banner-secret-4f1c"


@pytest.fixture
def other_service() -> Iterator[Callable[[bytes | None], int]]:
    """Start services that say `banner` to whoever connects (None: close at once), on new ports."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(banner: bytes | None) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.1)
        sockets.append(sock)

        def serve() -> None:
            while not stop.is_set():
                try:
                    peer, _ = sock.accept()
                except OSError:
                    continue
                if banner is not None:
                    peer.sendall(banner)
                    stop.wait(5)
                peer.close()

        threading.Thread(target=serve, daemon=True).start()
        return int(sock.getsockname()[1])

    yield start
    stop.set()
    for sock in sockets:
        sock.close()


def api_test(client: Client, **settings: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/mail-server/test",
        {"recipient": "ops@example.org", "settings": {**mail_form(), **settings}},
        content_type="application/json",
    )
    assert response.status_code == HTTPStatus.OK, response.content
    answer: dict[str, Any] = response.json()
    return answer


def test_a_port_without_a_mail_server_reads_the_same_whatever_listens_there(
    admin_client: Client,
    closed_port: int,
    silent_port: int,
    other_service: Callable[[bytes | None], int],
    settings,
) -> None:
    settings.TEST_MAIL_TIMEOUT_SECONDS = 1
    settings.LIMIT_TEST_MAIL = "off"
    ports = {
        "closed": closed_port,
        "silent": silent_port,
        "closes at once": other_service(None),
        "ssh": other_service(f"SSH-2.0-OpenSSH_9.6 {SECRET_WORDS}\r\n".encode()),
        "http": other_service(f"HTTP/1.1 400 Bad Request\r\nServer: {SECRET_WORDS}\r\n".encode()),
        "redis": other_service(f"-ERR {SECRET_WORDS}\r\n".encode()),
        "not a greeting": other_service(f"200 {SECRET_WORDS}\r\n".encode()),
        "binary": other_service(b"\x4a\x00\x00\x00\x0a8.0.36\x00" + SECRET_WORDS.encode()),
    }
    answers: dict[str, list[list[dict[str, str]]]] = {}
    elapsed: dict[str, float] = {}
    for kind, port in ports.items():
        for protocol in ("smtp", "smtps"):
            started = time.monotonic()
            answer = api_test(
                admin_client, host="127.0.0.1", port=port, protocol=protocol, use_tls=False
            )
            elapsed[f"{kind} {protocol}"] = time.monotonic() - started
            text = str(answer)
            assert SECRET_WORDS not in text, kind
            assert "SSH-2.0" not in text, kind
            assert "HTTP/1.1" not in text, kind
            assert answer["failed_step"] == "connect", (kind, protocol, answer)
            assert answer["temporary"], (kind, protocol)
            # The port number differs; everything else must not.
            steps = [
                {key: value.replace(str(port), "PORT") for key, value in step.items()}
                for step in answer["steps"]
            ]
            answers.setdefault(protocol, []).append(steps)
            if protocol == "smtp" and kind not in {"silent", "binary"}:
                # Told apart by time only where waiting longer would tell nothing new: a
                # silent port is known to be silent only once the time is up.
                assert elapsed[f"{kind} {protocol}"] < 1.0, (kind, protocol, elapsed)
    for protocol, ladders in answers.items():
        assert all(ladder == ladders[0] for ladder in ladders), protocol
        connect = next(step for step in ladders[0] if step["name"] == "connect")
        assert connect["cause"].startswith("No mail server answered at 127.0.0.1 port PORT")


def test_a_mail_server_turning_the_client_away_is_quoted(
    admin_client: Client, other_service: Callable[[bytes | None], int]
) -> None:
    port = other_service(b"554 5.3.2 mail.example.org has no service for you\r\n")

    answer = api_test(admin_client, host="127.0.0.1", port=port, use_tls=False)

    steps = {step["name"]: step for step in answer["steps"]}
    assert steps["connect"]["status"] == "passed"
    assert answer["failed_step"] == "greeting"
    assert "has no service for you" in steps["greeting"]["cause"]
    assert re.search(r"554\b", steps["greeting"]["detail"])


def test_every_step_of_a_refused_destination_keeps_the_address_to_itself(
    admin_client: Client, internal_names: dict[str, str], settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ""

    answer = api_test(admin_client, host="db.internal.example", port=5432, use_tls=False)

    steps = {step["name"]: step for step in answer["steps"]}
    assert steps["resolve"]["status"] == "passed"
    assert steps["resolve"]["detail"] == (
        "db.internal.example leads to an address this installation may not connect to."
    )
    assert answer["failed_step"] == "connect"
    assert "10.20.30.40" not in str(answer)
    assert "db.internal.example:5432" in steps["connect"]["fix"]
    assert not MailServerSettings.objects.exists()
