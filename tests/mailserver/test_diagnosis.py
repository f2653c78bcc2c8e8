from __future__ import annotations

import json
import logging
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest

from autommate.mailserver.connection import (
    ConflictingTLSSettings,
    MailServerNotConfigured,
    NotAMailServer,
    Protocol,
    ServerConfig,
)
from autommate.mailserver.destinations import DestinationRefused
from autommate.mailserver.diagnosis import diagnose
from autommate.mailserver.explanations import explain
from autommate.mailserver.steps import Diagnosis, MailStepError, StepName, at_step
from tests.smtp_server import LocalCA, SMTPServerFactory, SMTPTestServer

SENDER = "autommate@example.org"
RECIPIENT = "ada@example.org"
UNKNOWN_HOST = "mail.autommate-test.invalid"


def _message(subject: str = "Test mail from Autom Mate") -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = subject
    message.set_content("If you can read this, the mail server settings work.")
    return message.as_bytes(policy=SMTP_POLICY)


def _diagnose(config: ServerConfig, **kwargs) -> Diagnosis:
    kwargs.setdefault("deadline_seconds", 5.0)
    return diagnose(config, sender=SENDER, recipient=RECIPIENT, message=_message(), **kwargs)


def _statuses(diagnosis: Diagnosis) -> dict[str, str]:
    return {str(step.name): step.status for step in diagnosis.steps}


def _assert_failed_at(diagnosis: Diagnosis, name: StepName) -> None:
    failure = diagnosis.failure
    assert failure is not None, _statuses(diagnosis)
    assert failure.name == name, (failure, _statuses(diagnosis))
    assert not diagnosis.ok
    assert failure.cause
    assert failure.fix
    names = [step.name for step in diagnosis.steps]
    later = diagnosis.steps[names.index(name) + 1 :]
    assert all(step.status == "skipped" for step in later), _statuses(diagnosis)
    earlier = diagnosis.steps[: names.index(name)]
    assert all(step.status != "failed" for step in earlier)


def test_plain_conversation_passes_every_step_and_delivers(smtp_server: SMTPTestServer) -> None:
    diagnosis = _diagnose(smtp_server.config())

    assert diagnosis.ok, diagnosis.as_dict()
    assert diagnosis.failure is None
    assert _statuses(diagnosis) == {
        "resolve": "passed",
        "connect": "passed",
        "greeting": "passed",
        "tls": "skipped",
        "login": "skipped",
        "sender": "passed",
        "recipient": "passed",
        "message": "passed",
    }
    assert "Not used" in diagnosis.step(StepName.TLS).detail
    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == "Test mail from Autom Mate"
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [RECIPIENT]


def test_starttls_with_login_passes_every_step(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("starttls", auth=True)

    diagnosis = _diagnose(server.config())

    assert diagnosis.ok, diagnosis.as_dict()
    assert [step.name for step in diagnosis.steps] == [
        StepName.RESOLVE,
        StepName.CONNECT,
        StepName.GREETING,
        StepName.TLS,
        StepName.LOGIN,
        StepName.SENDER,
        StepName.RECIPIENT,
        StepName.MESSAGE,
    ]
    assert all(step.status == "passed" for step in diagnosis.steps)
    assert "TLS" in diagnosis.step(StepName.TLS).detail
    [received] = server.wait_for(1)
    assert received.login == "mailer"
    assert server.commands.index("STARTTLS") < server.commands.index("AUTH")


def test_implicit_tls_with_login_passes_every_step(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("tls", auth=True)

    diagnosis = _diagnose(server.config())

    assert diagnosis.ok, diagnosis.as_dict()
    assert [step.name for step in diagnosis.steps][:4] == [
        StepName.RESOLVE,
        StepName.CONNECT,
        StepName.TLS,
        StepName.GREETING,
    ]
    assert all(step.status == "passed" for step in diagnosis.steps)
    [received] = server.wait_for(1)
    assert received.login == "mailer"
    assert "STARTTLS" not in server.commands


def test_ip_address_is_verified_against_the_certificate(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("starttls")

    diagnosis = _diagnose(server.config(host="127.0.0.1"))

    assert diagnosis.ok, diagnosis.as_dict()


def test_unknown_host_fails_at_resolve() -> None:
    diagnosis = _diagnose(ServerConfig(host=UNKNOWN_HOST, port=587))

    _assert_failed_at(diagnosis, StepName.RESOLVE)
    failure = diagnosis.failure
    assert failure is not None
    assert UNKNOWN_HOST in failure.cause
    assert "could not be found" in failure.cause


def test_closed_port_fails_at_connect(closed_port: int) -> None:
    diagnosis = _diagnose(ServerConfig(host="127.0.0.1", port=closed_port, use_tls=False))

    _assert_failed_at(diagnosis, StepName.CONNECT)
    failure = diagnosis.failure
    assert failure is not None
    assert f"No mail server answered at 127.0.0.1 port {closed_port}" in failure.cause
    assert "587" in failure.fix
    assert diagnosis.temporary


def test_smtps_against_a_plain_port_fails_at_connect(smtp_server: SMTPTestServer) -> None:
    # The mail server's greeting arrives where a TLS handshake was expected; what answered is
    # not told, so the settings' own port and protocol must point the way.
    diagnosis = _diagnose(smtp_server.config(protocol="smtps", use_tls=False))

    _assert_failed_at(diagnosis, StepName.CONNECT)
    failure = diagnosis.failure
    assert failure is not None
    assert "No mail server answered" in failure.cause
    assert "SMTP with Enable TLS (STARTTLS) is on port 587" in failure.fix
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("protocol", "port", "hint"),
    [
        ("smtps", 587, "Port 587 usually expects SMTP, with Enable TLS for STARTTLS: choose SMTP."),
        ("smtps", 25, "Port 25 usually expects SMTP"),
        ("smtp", 465, "Port 465 usually expects SMTPS (TLS from the first byte): choose SMTPS."),
    ],
)
def test_a_port_that_usually_speaks_the_other_protocol_is_named_in_the_fix(
    protocol: Protocol, port: int, hint: str
) -> None:
    config = ServerConfig(host="127.0.0.1", port=port, protocol=protocol, use_tls=False)

    explanation = explain(MailStepError(StepName.CONNECT, NotAMailServer()), config=config)

    assert explanation.fix.startswith(hint)


@pytest.mark.parametrize("use_tls", [False, True], ids=["smtp", "smtp-starttls"])
def test_smtp_against_an_implicit_tls_port_fails_at_connect(
    smtp_server_factory: SMTPServerFactory, use_tls: bool
) -> None:
    server = smtp_server_factory("tls")
    started = time.monotonic()

    diagnosis = _diagnose(server.config(protocol="smtp", use_tls=use_tls), deadline_seconds=1.0)

    assert time.monotonic() - started < 2.0
    _assert_failed_at(diagnosis, StepName.CONNECT)
    failure = diagnosis.failure
    assert failure is not None
    assert "No mail server answered" in failure.cause
    assert "SMTPS on port 465" in failure.fix


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_private_ca_certificate_is_untrusted_without_the_ca_field(
    smtp_server_factory: SMTPServerFactory, mode
) -> None:
    server = smtp_server_factory(mode, auth=True)

    diagnosis = _diagnose(server.config(ca_certificate=""))

    _assert_failed_at(diagnosis, StepName.TLS)
    failure = diagnosis.failure
    assert failure is not None
    assert "not signed by an authority this system trusts" in failure.cause
    assert "CA certificate field" in failure.fix
    assert not diagnosis.temporary
    assert server.logins == []
    assert server.messages == []


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_private_ca_certificate_is_trusted_with_the_ca_field(
    smtp_server_factory: SMTPServerFactory, test_ca: LocalCA, mode
) -> None:
    server = smtp_server_factory(mode)

    diagnosis = _diagnose(server.config(ca_certificate=test_ca.pem))

    assert diagnosis.ok, diagnosis.as_dict()
    server.wait_for(1)


def test_self_signed_certificate_fails_at_tls(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("starttls", cert="self-signed")

    diagnosis = _diagnose(server.config())

    _assert_failed_at(diagnosis, StepName.TLS)
    failure = diagnosis.failure
    assert failure is not None
    assert "self-signed" in failure.cause
    assert "self-signed" in failure.detail


def test_certificate_for_another_name_fails_at_tls(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("tls", cert="wrong-name")

    diagnosis = _diagnose(server.config())

    _assert_failed_at(diagnosis, StepName.TLS)
    failure = diagnosis.failure
    assert failure is not None
    assert "not valid for the name localhost" in failure.cause
    assert "exactly as it appears in the server's certificate" in failure.fix


def test_invalid_ca_certificate_fails_at_tls(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("starttls")

    diagnosis = _diagnose(server.config(ca_certificate="this is not a certificate"))

    _assert_failed_at(diagnosis, StepName.TLS)
    failure = diagnosis.failure
    assert failure is not None
    assert "PEM" in failure.cause


def test_missing_starttls_stops_before_login_and_message(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("plain", auth=True)

    diagnosis = _diagnose(server.config(use_tls=True, use_auth=True))

    _assert_failed_at(diagnosis, StepName.TLS)
    failure = diagnosis.failure
    assert failure is not None
    assert "does not offer STARTTLS" in failure.cause
    assert "choose SMTPS" in failure.fix
    assert not diagnosis.temporary
    assert "EHLO" in server.commands
    assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(server.commands)
    assert server.logins == []
    assert server.messages == []


def test_smtps_with_starttls_is_refused_at_tls(smtp_server_factory: SMTPServerFactory) -> None:
    server = smtp_server_factory("tls")

    diagnosis = _diagnose(server.config(protocol="smtps", use_tls=True))

    _assert_failed_at(diagnosis, StepName.TLS)
    failure = diagnosis.failure
    assert failure is not None
    assert "SMTPS and Enable TLS (STARTTLS) were both chosen" in failure.cause
    assert "turn off Enable TLS" in failure.fix
    assert server.commands == []


def test_server_requiring_login_is_explained_at_sender(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory("plain", auth=True)

    diagnosis = _diagnose(server.config(use_auth=False, username="", password=""))

    _assert_failed_at(diagnosis, StepName.SENDER)
    failure = diagnosis.failure
    assert failure is not None
    assert "requires a login" in failure.cause
    assert "530" in failure.cause
    assert "Turn on Use authentication" in failure.fix
    assert diagnosis.step(StepName.LOGIN).status == "skipped"


def test_login_over_plain_connection_refused_by_server_is_explained(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    # This server offers AUTH only after STARTTLS; the login in clear is allowed, to meet it.
    server = smtp_server_factory("starttls", auth=True)

    diagnosis = _diagnose(server.config(use_tls=False, allow_insecure_login=True))

    _assert_failed_at(diagnosis, StepName.LOGIN)
    failure = diagnosis.failure
    assert failure is not None
    assert "does not offer login" in failure.cause
    assert "Turn on Enable TLS" in failure.fix


def test_wrong_password_fails_at_login(smtp_server_factory: SMTPServerFactory) -> None:
    server = smtp_server_factory("plain", auth=True)

    diagnosis = _diagnose(server.config(password="not-the-password"))

    _assert_failed_at(diagnosis, StepName.LOGIN)
    failure = diagnosis.failure
    assert failure is not None
    assert "rejected the username or password" in failure.cause
    assert "535" in failure.cause
    assert not diagnosis.temporary
    assert server.logins
    assert server.messages == []


def test_rejected_sender_fails_at_sender(smtp_server_factory: SMTPServerFactory) -> None:
    server = smtp_server_factory(reject_senders={SENDER})

    diagnosis = _diagnose(server.config())

    _assert_failed_at(diagnosis, StepName.SENDER)
    failure = diagnosis.failure
    assert failure is not None
    assert f"refused the sender address {SENDER}" in failure.cause
    assert "550" in failure.cause
    assert not diagnosis.temporary


def test_rejected_recipient_fails_at_recipient(smtp_server_factory: SMTPServerFactory) -> None:
    server = smtp_server_factory(reject_recipients={RECIPIENT})

    diagnosis = _diagnose(server.config())

    _assert_failed_at(diagnosis, StepName.RECIPIENT)
    failure = diagnosis.failure
    assert failure is not None
    assert f"refused the recipient {RECIPIENT}" in failure.cause
    assert "user unknown" in failure.cause
    assert server.messages == []


def test_temporary_refusal_of_the_message_is_marked_temporary(
    smtp_server_factory: SMTPServerFactory,
) -> None:
    server = smtp_server_factory(temporary_failures=1)

    first = _diagnose(server.config())
    second = _diagnose(server.config())

    _assert_failed_at(first, StepName.MESSAGE)
    failure = first.failure
    assert failure is not None
    assert "for now" in failure.cause
    assert "451" in failure.cause
    assert first.temporary
    assert second.ok
    assert len(server.wait_for(1)) == 1


def test_link_local_server_is_refused_before_connecting() -> None:
    diagnosis = _diagnose(ServerConfig(host="169.254.169.254", port=25, use_tls=False))

    _assert_failed_at(diagnosis, StepName.CONNECT)
    failure = diagnosis.failure
    assert failure is not None
    assert "link-local" in failure.cause
    assert "169.254.169.254:25" not in failure.fix
    assert "No entry in AUTOMMATE_MAIL_ALLOWED_DESTINATIONS allows" in failure.fix
    assert not diagnosis.temporary


def test_server_outside_allowed_destinations_is_refused(
    smtp_server: SMTPTestServer, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "smtp.example.org,10.0.0.0/8"

    diagnosis = _diagnose(smtp_server.config())

    _assert_failed_at(diagnosis, StepName.CONNECT)
    failure = diagnosis.failure
    assert failure is not None
    assert "not among the destinations" in failure.cause
    assert smtp_server.commands == []


def test_server_inside_allowed_destinations_is_reached(
    smtp_server: SMTPTestServer, settings
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = "smtp.example.org,127.0.0.0/8"

    assert _diagnose(smtp_server.config()).ok


def test_silent_server_is_given_up_on_at_the_deadline(silent_port: int) -> None:
    config = ServerConfig(host="127.0.0.1", port=silent_port, use_tls=False, timeout_seconds=30)
    started = time.monotonic()

    diagnosis = _diagnose(config, deadline_seconds=0.8)

    elapsed = time.monotonic() - started
    assert 0.7 < elapsed < 1.5
    _assert_failed_at(diagnosis, StepName.CONNECT)
    failure = diagnosis.failure
    assert failure is not None
    assert "No mail server answered" in failure.cause
    assert diagnosis.temporary


def test_slow_server_is_cut_off_at_the_deadline(smtp_server_factory: SMTPServerFactory) -> None:
    server = smtp_server_factory(delay_seconds=5.0)
    started = time.monotonic()

    diagnosis = _diagnose(server.config(timeout_seconds=30), deadline_seconds=1.0)

    assert time.monotonic() - started < 1.8
    _assert_failed_at(diagnosis, StepName.MESSAGE)
    failure = diagnosis.failure
    assert failure is not None
    assert "did not answer in time" in failure.cause
    assert diagnosis.temporary


def test_password_never_appears_in_the_diagnosis_or_the_log(
    smtp_server_factory: SMTPServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    password = "Unmistakable-Passw0rd-9f3c"
    caplog.set_level(logging.DEBUG)
    good = smtp_server_factory("plain", auth=True, password=password)
    other = smtp_server_factory("plain", auth=True)
    no_starttls = smtp_server_factory("plain", auth=True)
    configs = [
        good.config(),
        other.config(password=password),
        no_starttls.config(use_tls=True, password=password),
        ServerConfig(host=UNKNOWN_HOST, port=25, use_auth=True, username="u", password=password),
    ]

    diagnoses = [_diagnose(config) for config in configs]

    assert [d.failure.name if d.failure else None for d in diagnoses] == [
        None,
        StepName.LOGIN,
        StepName.TLS,
        StepName.RESOLVE,
    ]
    for diagnosis, config in zip(diagnoses, configs, strict=True):
        text = json.dumps(diagnosis.as_dict())
        assert password not in text
        assert password not in repr(diagnosis)
        assert password not in repr(config)
    assert password not in caplog.text


def test_diagnosis_serialises_to_json_with_labels(smtp_server: SMTPTestServer) -> None:
    diagnosis = _diagnose(smtp_server.config(), deadline_seconds=None)

    data = json.loads(json.dumps(diagnosis.as_dict()))

    assert data["ok"] is True
    assert data["failed_step"] is None
    assert [step["label"] for step in data["steps"]] == [
        "Resolve server name",
        "Connect",
        "Greeting (EHLO)",
        "TLS handshake",
        "Log in",
        "Sender accepted",
        "Recipient accepted",
        "Message accepted",
    ]
    assert set(data["steps"][0]) == {"name", "label", "status", "detail", "cause", "fix"}


def _certificate_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code = code
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    ("error", "step", "temporary"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), StepName.RESOLVE, False),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), StepName.RESOLVE, True),
        (MailServerNotConfigured("none"), StepName.RESOLVE, False),
        (ConnectionRefusedError(111, "Connection refused"), StepName.CONNECT, True),
        (ConnectionResetError(104, "Connection reset by peer"), StepName.CONNECT, True),
        (TimeoutError("timed out"), StepName.CONNECT, True),
        (DestinationRefused("not allowed"), StepName.CONNECT, False),
        (ConflictingTLSSettings("both"), StepName.TLS, False),
        (
            smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
            StepName.TLS,
            False,
        ),
        (
            _certificate_error(19, "self-signed certificate in certificate chain"),
            StepName.TLS,
            False,
        ),
        (_certificate_error(62, "Hostname mismatch"), StepName.TLS, False),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), StepName.TLS, True),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), StepName.GREETING, True),
        (smtplib.SMTPConnectError(421, b"Too busy"), StepName.GREETING, True),
        (smtplib.SMTPConnectError(554, b"No service"), StepName.GREETING, False),
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"),
            StepName.LOGIN,
            False,
        ),
        (
            smtplib.SMTPAuthenticationError(454, b"4.7.0 Temporary authentication failure"),
            StepName.LOGIN,
            True,
        ),
        (
            smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."),
            StepName.LOGIN,
            False,
        ),
        (
            smtplib.SMTPSenderRefused(550, b"5.7.1 Not allowed", "a@example.org"),
            StepName.SENDER,
            False,
        ),
        (
            smtplib.SMTPSenderRefused(530, b"5.7.0 Authentication required", "a@example.org"),
            StepName.SENDER,
            False,
        ),
        (
            smtplib.SMTPSenderRefused(451, b"4.3.0 Try later", "a@example.org"),
            StepName.SENDER,
            True,
        ),
        (
            smtplib.SMTPRecipientsRefused({"b@example.org": (550, b"5.1.1 User unknown")}),
            StepName.RECIPIENT,
            False,
        ),
        (
            smtplib.SMTPRecipientsRefused({"b@example.org": (450, b"4.2.0 Greylisted")}),
            StepName.RECIPIENT,
            True,
        ),
        (smtplib.SMTPDataError(554, b"5.7.1 Looks like spam"), StepName.MESSAGE, False),
        (smtplib.SMTPDataError(451, b"4.3.0 Try later"), StepName.MESSAGE, True),
    ],
)
def test_explain_names_the_step_and_whether_to_retry(
    error: BaseException, step: StepName, temporary: bool
) -> None:
    explanation = explain(error)

    assert explanation.step == step
    assert explanation.temporary is temporary
    assert explanation.cause
    assert explanation.fix


def test_explain_uses_the_step_where_the_error_happened() -> None:
    with pytest.raises(TimeoutError) as raised, at_step(StepName.MESSAGE):
        raise TimeoutError("timed out")

    explanation = explain(raised.value)

    assert explanation.step == StepName.MESSAGE
    assert explanation.temporary
    assert "did not answer in time" in explanation.cause
