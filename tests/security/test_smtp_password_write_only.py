"""Point 14: the SMTP password is write-only and bound to its server and to how the connection to
it is secured; headers and templates hold.

ASVS 5.0 V13.3 (secrets management: encrypted at rest, never returned), V16.2 (no secrets in
logs), V1.2 (output encoding, injection: CR/LF in mail headers, HTML in templates); OWASP Forgot
Password Cheat Sheet's premise that the reset mail itself cannot be tampered with. A stolen
administrator session must not be able to send the saved password to another server.
"""

from __future__ import annotations

import io
import re
from http import HTTPStatus
from typing import Any

import pytest
import trustme
from django.test import Client

from autommate.accounts.models import User
from autommate.delivery.models import Kind, OutgoingMessage, State
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import decrypt
from tests.api.conftest import ApiClient
from tests.conftest import USER_PASSWORD
from tests.smtp_server import SMTPServerFactory, SMTPTestServer

from .conftest import (
    Mailbox,
    everything_stored,
    html_of,
    mail_form,
    request_reset,
    reset_link,
    text_of,
)

pytestmark = pytest.mark.django_db

SECRET = "Sup3r-Secret-SMTP-Passw0rd!"
USERNAME = "mailer"
PASSWORD_INPUT = re.compile(r"<input[^>]*name=\"password\"[^>]*>")


@pytest.fixture
def auth_server(smtp_server_factory: SMTPServerFactory) -> SMTPTestServer:
    return smtp_server_factory(auth=True, username=USERNAME, password=SECRET)


def auth_form(server: SMTPTestServer, **overrides: Any) -> dict[str, Any]:
    # A plain server on this machine: the relay that Allow login without TLS is for.
    values = {"use_auth": "on", "allow_insecure_login": "on", "username": USERNAME}
    return mail_form(server, **(values | overrides))


@pytest.fixture
def saved(admin_client: Client, auth_server: SMTPTestServer) -> MailServerSettings:
    response = admin_client.post("/settings/mail/", auth_form(auth_server, password=SECRET))
    assert response.status_code == HTTPStatus.FOUND
    return MailServerSettings.objects.get()


def assert_no_secret(text: str) -> None:
    assert SECRET not in text
    assert SECRET.lower() not in text.lower()


def test_saved_password_is_encrypted_and_shown_nowhere(
    admin_client: Client, saved: MailServerSettings, auth_server: SMTPTestServer
) -> None:
    assert saved.password_encrypted
    assert SECRET not in saved.password_encrypted
    assert decrypt(saved.password_encrypted) == SECRET
    assert_no_secret(everything_stored())

    page = admin_client.get("/settings/mail/").content.decode()
    assert_no_secret(page)
    (field,) = PASSWORD_INPUT.findall(page)
    assert "value=" not in field
    assert "A password is saved" in page

    invalid = admin_client.post("/settings/mail/", auth_form(auth_server, password=SECRET, port=0))
    assert invalid.status_code == HTTPStatus.BAD_REQUEST
    assert_no_secret(invalid.content.decode())
    (field,) = PASSWORD_INPUT.findall(invalid.content.decode())
    assert "value=" not in field

    tested = admin_client.post(
        "/settings/mail/test/", auth_form(auth_server, test_recipient="ops@example.org")
    )
    assert "Logged in as mailer" in tested.content.decode()
    assert_no_secret(tested.content.decode())

    api = admin_client.get("/api/v1/mail-server")
    assert api.status_code == HTTPStatus.OK
    assert api.json()["has_password"] is True
    assert_no_secret(api.content.decode())
    for page in ("/settings/mail/log/", "/settings/audit/", "/api/v1/audit-events"):
        assert_no_secret(admin_client.get(page).content.decode())


def test_password_is_in_no_log_line_error_or_mail_log(
    admin_client: Client,
    saved: MailServerSettings,
    smtp_server_factory,
    mailbox_with_auth,
    regular_user: User,
    caplog,
    every_log_line: io.StringIO,
) -> None:
    other = smtp_server_factory(auth=True, username=USERNAME, password="not-the-secret")
    refused = admin_client.post(
        "/settings/mail/test/",
        auth_form(other, password=SECRET, test_recipient="ops@example.org"),
    )
    body = refused.content.decode()
    assert "Failed" in body
    assert "Log in" in body
    assert_no_secret(body)

    request_reset(Client(), regular_user.email)
    mailbox_with_auth.deliver()  # delivered, logging in with the saved password
    mailbox_with_auth.server.stop()
    request_reset(Client(REMOTE_ADDR="198.51.100.2"), regular_user.email)
    mailbox_with_auth.deliver()  # fails to connect, and is kept for a retry

    assert caplog.records
    assert_no_secret(caplog.text)
    assert_no_secret(every_log_line.getvalue())
    assert_no_secret(everything_stored())
    assert_no_secret(admin_client.get("/settings/mail/log/").content.decode())
    assert_no_secret(admin_client.get("/api/v1/mail-log").content.decode())


@pytest.fixture
def mailbox_with_auth(saved: MailServerSettings, auth_server: SMTPTestServer, run_worker):
    from autommate.recovery.models import ForgotPasswordSettings

    from .conftest import Mailbox

    saved.verified_fingerprint = saved.fingerprint()
    saved.save()
    ForgotPasswordSettings.objects.create(pk=1, enabled=True)
    return Mailbox(auth_server, run_worker)


@pytest.mark.parametrize(
    "change",
    [
        {"host": "localhost"},
        {"port": "other-server"},
        {"username": "someone-else"},
    ],
    ids=["host", "port", "username"],
)
def test_saved_password_goes_only_to_the_server_port_and_user_it_was_saved_for(
    admin_client: Client,
    saved: MailServerSettings,
    auth_server: SMTPTestServer,
    smtp_server_factory,
    change: dict[str, str],
) -> None:
    elsewhere = smtp_server_factory(auth=True, username="someone-else", password=SECRET)
    if change.get("port"):
        change = {"port": str(elsewhere.port)}
    values = auth_form(auth_server, **change)
    before = (len(auth_server.commands), len(elsewhere.commands))

    tested = admin_client.post("/settings/mail/test/", {**values, "test_recipient": "o@x.org"})
    kept = admin_client.post("/settings/mail/", values)

    for response in (tested, kept):
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "Enter the password again" in response.content.decode()
    assert (len(auth_server.commands), len(elsewhere.commands)) == before
    assert elsewhere.logins == []
    assert auth_server.logins == []
    assert MailServerSettings.objects.get().host == auth_server.host

    retyped = admin_client.post(
        "/settings/mail/test/", {**values, "password": SECRET, "test_recipient": "o@x.org"}
    )
    assert retyped.status_code == HTTPStatus.OK


def test_saved_password_is_reused_while_nothing_it_is_bound_to_changed(
    admin_client: Client, saved: MailServerSettings, auth_server: SMTPTestServer
) -> None:
    tested = admin_client.post(
        "/settings/mail/test/",
        auth_form(auth_server, sender_name="Renamed", test_recipient="ops@example.org"),
    )

    assert tested.status_code == HTTPStatus.OK
    assert auth_server.logins == [USERNAME]
    assert len(auth_server.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender_name", "Autom Mate\r\nBcc: victim@example.org"),
        ("sender_name", "Autom Mate\nBcc: victim@example.org"),
        ("sender_email", "noreply@example.org\r\nBcc: victim@example.org"),
        ("username", "mailer\r\nRCPT TO:<victim@example.org>"),
        ("test_recipient", "ops@example.org\r\nBcc: victim@example.org"),
    ],
)
def test_header_fields_refuse_line_breaks(
    admin_client: Client, smtp_server, field: str, value: str
) -> None:
    values = mail_form(smtp_server, **{"test_recipient": "ops@example.org", field: value})
    if field == "username":
        values.update(use_auth="on", password="whatever-it-is")

    pages = ["/settings/mail/test/"] + ([] if field == "test_recipient" else ["/settings/mail/"])
    for page in pages:
        response = admin_client.post(page, values)
        assert response.status_code == HTTPStatus.BAD_REQUEST, page

    assert not MailServerSettings.objects.exists()
    assert smtp_server.commands == []


def test_user_data_in_emails_is_html_escaped(mailbox: Mailbox) -> None:
    User.objects.create_user(
        "mallory@example.org",
        USER_PASSWORD,
        full_name='<b>Mallory</b> <a href="https://attacker.example/">x</a>',
    )
    request_reset(Client(), "mallory@example.org")

    message = mailbox.deliver_one()

    html = html_of(message)
    assert "<b>Mallory</b>" not in html
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in html
    assert "attacker.example" not in html
    assert "<b>Mallory</b>" in text_of(message)  # the text part shows it as typed, harmlessly


@pytest.mark.parametrize(
    "change",
    [
        {"use_tls": None},
        {"use_tls": None, "allow_insecure_login": "on"},
        {"protocol": "smtps", "use_tls": None},
        {"ca_certificate": "another CA"},
    ],
    ids=["tls-off", "tls-off-and-allowed", "protocol", "ca-certificate"],
)
def test_saved_password_is_bound_to_how_the_connection_is_secured(
    admin_client: Client, smtp_server_factory, test_ca, change: dict[str, str]
) -> None:
    server = smtp_server_factory("starttls", auth=True, username=USERNAME, password=SECRET)
    secured = mail_form(
        server, use_tls="on", use_auth="on", username=USERNAME, ca_certificate=test_ca.pem
    )
    assert admin_client.post("/settings/mail/", {**secured, "password": SECRET}).status_code == (
        HTTPStatus.FOUND
    )
    if change.get("ca_certificate"):
        change = {"ca_certificate": trustme.CA().cert_pem.bytes().decode()}
    values = {key: value for key, value in (secured | change).items() if value is not None}

    tested = admin_client.post("/settings/mail/test/", {**values, "test_recipient": "o@x.org"})
    kept = admin_client.post("/settings/mail/", values)

    for response in (tested, kept):
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "Enter the password again" in response.content.decode()
    assert server.commands == []
    assert server.logins == []
    saved = MailServerSettings.objects.get()
    assert (saved.use_tls, saved.protocol) == (True, "smtp")
    assert saved.ca_certificate == test_ca.pem.strip()


# Every character Python's email library refuses in a header (it splits lines at all of them),
# and the other C0 and C1 controls, which garble what a server or a recipient sees.
UNSAFE = [
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\x7f",
    "\x9f",
]


@pytest.mark.parametrize(
    ("field", "value"),
    [("sender_name", f"Autom{c}Mate") for c in UNSAFE]
    + [
        ("sender_email", "noreply@exa\u2028mple.org"),
        ("sender_email", '"no\x0breply"@example.org'),
        ("username", "mai\u2029ler"),
        ("username", "mai\x1fler"),
        ("test_recipient", "ops@exa\u2028mple.org"),
        ("test_recipient", '"o\x0cps"@example.org'),
    ],
    ids=lambda value: ascii(value)[1:-1] if isinstance(value, str) else value,
)
def test_header_fields_refuse_every_line_break_and_control_character(
    admin_client: Client, smtp_server, field: str, value: str
) -> None:
    values = mail_form(smtp_server, **{"test_recipient": "ops@example.org", field: value})
    if field == "username":
        values.update(use_auth="on", allow_insecure_login="on", password="whatever-it-is")
    pages = ["/settings/mail/test/"] + ([] if field == "test_recipient" else ["/settings/mail/"])
    for page in pages:
        response = admin_client.post(page, values)
        assert response.status_code == HTTPStatus.BAD_REQUEST, page
        assert ("must be on one line" in response.content.decode()) or (
            "control characters" in response.content.decode()
        ), page

    api = ApiClient(client=admin_client)
    settings = {
        "host": values["host"],
        "port": values["port"],
        "protocol": "smtp",
        "use_tls": False,
        "sender_name": values["sender_name"],
        "sender_email": values["sender_email"],
        "use_auth": field == "username",
        "username": values.get("username", ""),
        "allow_insecure_login": True,
        "password": "whatever-it-is",
    }
    answers = [
        api.post("/mail-server/test", {"recipient": values["test_recipient"], "settings": settings})
    ]
    if field != "test_recipient":
        answers.append(api.put("/mail-server", settings))
    for answer in answers:
        assert answer.status_code == HTTPStatus.BAD_REQUEST, answer.content
        assert "line" in answer.content.decode() or "control" in answer.content.decode()

    assert not MailServerSettings.objects.exists()
    assert smtp_server.commands == []


def test_a_sender_name_saved_before_the_rule_cannot_stop_mail(
    mailbox: Mailbox, regular_user: User, admin_client: Client
) -> None:
    MailServerSettings.objects.update(sender_name="Autom\u2028Mate\x0b Support")

    request_reset(Client(), regular_user.email)
    message = mailbox.deliver_one()

    assert message["From"].addresses[0].display_name == "Autom Mate Support"
    assert reset_link(message)
    page = admin_client.get("/settings/mail/")
    assert page.status_code == HTTPStatus.OK


def test_a_sender_email_saved_before_the_rule_fails_clearly(
    mailbox: Mailbox, regular_user: User, admin_client: Client
) -> None:
    MailServerSettings.objects.update(sender_email="noreply@exa\u2028mple.org")

    request_reset(Client(), regular_user.email)
    assert mailbox.deliver() == []

    failed = OutgoingMessage.objects.get(kind=Kind.RESET)
    assert failed.state == State.FAILED
    assert "sender email" in failed.last_error
    assert "mail settings page" in failed.last_error
    tested = ApiClient(client=admin_client).post(
        "/mail-server/test", {"recipient": "ops@example.org"}
    )
    assert tested.status_code == HTTPStatus.BAD_REQUEST
    assert "The sender email must be on one line" in tested.content.decode()


@pytest.mark.parametrize(
    "address", ["ada@exa\u2028mple.org", '"a\x0bda"@example.org', '"a\x1fda"@example.org']
)
def test_account_addresses_refuse_what_no_to_header_can_carry(
    admin_client: Client, address: str
) -> None:
    page = admin_client.post("/users/add/", {"email": address, "role": "user", "is_active": "on"})
    api = ApiClient(client=admin_client).post("/users", {"email": address, "role": "user"})

    assert page.status_code == HTTPStatus.OK  # the form again, with its errors
    assert api.status_code == HTTPStatus.BAD_REQUEST, api.content
    for answer in (page, api):
        text = answer.content.decode()
        assert "must be on one line" in text or "control characters" in text
    assert not User.objects.filter(email=address).exists()
