"""`autommate mailserver show|set|test|confirm`, run as an operator would."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.commands.conftest import reason
from tests.credentials import (
    SERVICE_ACCOUNT_EMAIL,
    client_certificate_pem,
    private_key_body,
    private_key_pem,
    rsa_key,
    service_account_key,
)
from tests.smtp_server import SMTPServerFactory

SECRET = "sm7p-p4ssw0rd-never-printed"
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


def configure(autommate, server, *extra: str, stdin: str | None = None):
    return autommate(
        "mailserver",
        "set",
        "--host",
        server.host,
        "--port",
        str(server.port),
        "--protocol",
        "smtp",
        "--no-tls",
        "--sender-name",
        "Autom Mate",
        "--sender-email",
        "noreply@example.org",
        *extra,
        stdin=stdin,
    )


def test_show_on_a_fresh_installation(autommate) -> None:
    done = autommate("mailserver", "show")
    assert done.returncode == 0, done.stderr
    assert "Server name:" in done.stdout
    assert f"{'Verified:':<24}no" in done.stdout


def test_set_then_show_never_prints_the_password(autommate, smtp_server) -> None:
    done = configure(
        autommate, smtp_server, "--username", "mailer", "--password-stdin", stdin=SECRET
    )
    assert done.returncode == 0, done.stderr
    assert "not verified" in done.stdout
    shown = autommate("mailserver", "show")
    assert "saved (never shown)" in shown.stdout
    as_json = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert as_json["has_password"] is True
    assert as_json["use_auth"] is True
    assert as_json["host"] == smtp_server.host
    assert as_json["port"] == smtp_server.port
    assert "password" not in as_json
    for output in (done, shown):
        assert SECRET not in output.stdout + output.stderr


def test_show_and_set_after_the_encryption_key_was_lost(autommate, smtp_server) -> None:
    configure(autommate, smtp_server, "--username", "mailer", "--password-stdin", stdin=SECRET)
    autommate.environment["AUTOMMATE_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()

    shown = autommate("mailserver", "show")
    assert shown.returncode == 0, shown.stderr
    assert "The saved password cannot be read with the current encryption keys" in shown.stdout
    assert f"{'Password:':<24}saved, but cannot be read" in shown.stdout
    as_json = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert as_json["unreadable_secrets"] == ["password"]

    kept = autommate("mailserver", "set", "--sender-name", "Ops")
    assert "password: The saved password cannot be read" in reason(kept)

    typed = autommate("mailserver", "set", "--password-stdin", stdin="a-new-password")
    assert typed.returncode == 0, typed.stderr
    assert "cannot be read" not in typed.stdout


def test_set_changes_only_the_given_settings(autommate, smtp_server) -> None:
    configure(autommate, smtp_server)
    done = autommate("mailserver", "set", "--sender-name", "Ops", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["sender_name"] == "Ops"
    assert shown["port"] == smtp_server.port


def test_set_refuses_invalid_settings_in_one_line(autommate) -> None:
    done = autommate("mailserver", "set", "--host", "smtp://smtp.example.org", "--port", "70000")
    line = reason(done)
    assert line.startswith("host: Enter only the server name")
    assert "port: Enter a port from 1 to 65535." in line
    assert done.stderr.strip().count("\n") == 0


def test_test_confirm_then_enable_forgot_password(autommate, smtp_server) -> None:
    configure(autommate, smtp_server)
    done = autommate("mailserver", "test", "--to", "ops@example.org")
    assert done.returncode == 0, done.stderr
    for label in ("Resolve server name", "Connect", "Sender accepted", "Message accepted"):
        assert f"[passed] {label}" in done.stdout
    (message,) = smtp_server.wait_for(1)
    code = CODE.search(message.get_body(("plain",)).get_content())
    assert code is not None

    assert reason(autommate("forgot-password", "enable")).startswith("Forgot Password stays off")
    confirmed = autommate("mailserver", "confirm", code[1].lower())
    assert confirmed.returncode == 0, confirmed.stderr
    assert f"{'Verified:':<24}yes" in confirmed.stdout
    enabled = autommate("forgot-password", "enable", "--json")
    assert enabled.returncode == 0, enabled.stderr
    assert json.loads(enabled.stdout)["enabled"] is True


def test_sign_in_without_tls_is_refused_until_allowed(autommate, smtp_server_factory) -> None:
    server = smtp_server_factory("plain", auth=True, username="mailer", password=SECRET)
    configure(autommate, server, "--username", "mailer", "--password-stdin", stdin=SECRET)
    assert f"{'Allow login without TLS:':<24}no" in autommate("mailserver", "show").stdout

    refused = autommate("mailserver", "test", "--to", "ops@example.org")
    assert "[failed] Log in" in refused.stdout
    assert "Allow login without TLS" in refused.stdout
    assert reason(refused).startswith("The test mail failed at Log in: The connection is not")
    assert server.logins == []

    # Turning it on is a change to how the password travels, so the password comes again.
    assert reason(autommate("mailserver", "set", "--allow-insecure-login")).startswith(
        "password: Enter the password again"
    )
    allowed = autommate(
        "mailserver", "set", "--allow-insecure-login", "--password-stdin", stdin=SECRET
    )
    assert allowed.returncode == 0, allowed.stderr
    assert f"{'Allow login without TLS:':<24}yes" in allowed.stdout
    tested = autommate("mailserver", "test", "--to", "ops@example.org")
    assert tested.returncode == 0, tested.stderr
    assert server.logins == ["mailer"]


def test_a_sender_name_that_no_mail_header_can_carry_is_refused(autommate, smtp_server) -> None:
    configure(autommate, smtp_server)

    refused = autommate("mailserver", "set", "--sender-name", "Autom\u2028Mate")

    assert reason(refused) == (
        "sender-name: The sender name must be on one line: it holds a line break (U+2028)."
    )
    assert f"{'Sender name:':<24}Autom Mate" in autommate("mailserver", "show").stdout
    # Saved before the rule existed: the test names the field to correct, and sends nothing.
    autommate(
        "shell",
        "-c",
        "from autommate.mailserver.models import MailServerSettings; "
        "MailServerSettings.objects.update(sender_name='Autom\\u2028Mate')",
    )
    tested = autommate("mailserver", "test", "--to", "ops@example.org")
    assert reason(tested).startswith("sender-name: The sender name must be on one line")
    assert smtp_server.commands == []


def test_test_as_json(autommate, smtp_server) -> None:
    configure(autommate, smtp_server)
    result = json.loads(autommate("mailserver", "test", "--to", "ops@example.org", "--json").stdout)
    assert result["ok"] is True
    assert [step["name"] for step in result["steps"]][:2] == ["resolve", "connect"]


def test_failed_test_prints_the_steps_and_fails_with_the_reason(
    autommate, smtp_server, closed_port
) -> None:
    configure(autommate, smtp_server)
    autommate("mailserver", "set", "--port", str(closed_port))
    done = autommate("mailserver", "test", "--to", "ops@example.org")
    assert "[failed] Connect" in done.stdout
    assert "Fix:" in done.stdout
    assert reason(done).startswith("The test mail failed at Connect: ")


def test_an_upgrade_that_refuses_the_saved_mail_server_is_told_at_every_start(
    autommate, smtp_server
) -> None:
    configure(autommate, smtp_server)
    # After the upgrade, the variable is not set: only public addresses are allowed.
    del autommate.environment["AUTOMMATE_MAIL_ALLOWED_DESTINATIONS"]

    checked = autommate("check")
    shown = autommate("mailserver", "show")
    tested = autommate("mailserver", "test", "--to", "ops@example.org")

    entry = f"127.0.0.1:{smtp_server.port}"
    assert checked.returncode == 0, checked.stderr
    assert "(mailserver.W001) The mail server 127.0.0.1 leads to an address" in checked.stderr
    assert "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS and restarts" in checked.stderr
    assert f"set it to public,{entry}" in checked.stderr
    # Every command starts with the checks, `autommate serve` among them.
    assert "mailserver.W001" in shown.stderr
    assert "[failed] Connect" in tested.stdout
    assert f"adds {entry} to AUTOMMATE_MAIL_ALLOWED_DESTINATIONS" in tested.stdout
    assert smtp_server.messages == []
    autommate.environment["AUTOMMATE_MAIL_ALLOWED_DESTINATIONS"] = f"public,{entry}"
    assert "System check identified no issues" in autommate("check").stdout


def test_test_without_a_server_fails(autommate) -> None:
    assert reason(autommate("mailserver", "test", "--to", "ops@example.org")).startswith(
        "No mail server is configured"
    )


def test_test_refuses_a_bad_recipient(autommate, smtp_server) -> None:
    configure(autommate, smtp_server)
    assert reason(autommate("mailserver", "test", "--to", "nobody")).startswith("to: ")
    assert smtp_server.messages == []


def test_wrong_code_fails(autommate, smtp_server) -> None:
    configure(autommate, smtp_server)
    assert reason(autommate("mailserver", "confirm", "ABCD-EFGH")).startswith(
        "This code is not valid"
    )


# OAuth 2.0 and the Google service account: `set` reads secrets from stdin and files only.

CLIENT_SECRET = "Qx8~client-secret-never-printed.f3"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
CLIENT_ID = "8c3b2e7a-51f4-4d0e-9a66-2f0d1c5b7e90"
SCOPE = "https://outlook.office365.com/.default"
MAILBOX = "noreply@example.org"


def line(label: str, value: str) -> str:
    return f"{label + ':':<24}{value}"


def microsoft(autommate, *extra: str, stdin: str | None = None):
    return autommate(
        "mailserver",
        "set",
        "--host",
        "smtp.office365.com",
        "--port",
        "587",
        "--protocol",
        "smtp",
        "--tls",
        "--sender-email",
        MAILBOX,
        "--username",
        MAILBOX,
        "--token-url",
        TOKEN_URL,
        "--client-id",
        CLIENT_ID,
        "--scope",
        SCOPE,
        *extra,
        stdin=stdin,
    )


def written(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_show_names_every_login_setting_on_a_fresh_installation(autommate) -> None:
    shown = autommate("mailserver", "show").stdout
    for label, value in [
        ("Authentication method", "password"),
        ("Password", "none"),
        ("Client secret", "none"),
        ("Client certificate", "none"),
        ("Service account key", "none"),
    ]:
        assert line(label, value) in shown
    for label in ("Token URL", "Client ID", "Scope", "Service account email"):
        assert f"\n{label}:" in shown


def test_set_oauth2_with_a_client_secret_from_stdin(autommate) -> None:
    done = microsoft(autommate, "--client-secret-stdin", stdin=CLIENT_SECRET + "\n")

    assert done.returncode == 0, done.stderr
    assert "not verified" in done.stdout
    shown = autommate("mailserver", "show")
    for label, value in [
        ("Use authentication", "yes"),
        ("Authentication method", "oauth2"),
        ("Username", MAILBOX),
        ("Token URL", TOKEN_URL),
        ("Client ID", CLIENT_ID),
        ("Scope", SCOPE),
        ("Client secret", "saved (never shown)"),
        ("Client certificate", "none"),
        ("Password", "none"),
    ]:
        assert line(label, value) in shown.stdout
    as_json = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert as_json["auth_method"] == "oauth2"
    assert as_json["client_secret_set"] is True
    assert as_json["password_set"] is as_json["has_password"] is False
    assert not {"password", "client_secret", "client_certificate", "service_account_key"} & set(
        as_json
    )
    for output in (done, shown):
        assert CLIENT_SECRET not in output.stdout + output.stderr


def test_set_oauth2_with_a_client_certificate_file(autommate, tmp_path: Path) -> None:
    pem = client_certificate_pem()
    with_password = autommate(
        "mailserver",
        "set",
        "--host",
        "smtp.office365.com",
        "--sender-email",
        MAILBOX,
        "--username",
        "mailer",
        "--password-stdin",
        stdin=SECRET,
    )
    assert with_password.returncode == 0, with_password.stderr
    done = autommate(
        "mailserver",
        "set",
        "--username",
        MAILBOX,
        "--client-id",
        CLIENT_ID,
        "--token-url",
        TOKEN_URL,
        "--client-certificate",
        written(tmp_path, "client.pem", pem),
        "--json",
    )

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["auth_method"] == "oauth2"
    assert shown["client_certificate_set"] is True
    assert shown["client_secret_set"] is False
    assert shown["password_set"] is False  # the password method's secret is removed
    assert private_key_body(pem) not in done.stdout + done.stderr


def test_set_a_google_service_account_key_file(autommate, tmp_path: Path) -> None:
    key = service_account_key()
    microsoft(autommate, "--client-secret-stdin", stdin=CLIENT_SECRET)

    done = autommate(
        "mailserver",
        "set",
        "--host",
        "smtp.gmail.com",
        "--service-account-key",
        written(tmp_path, "key.json", key),
    )

    assert done.returncode == 0, done.stderr
    for label, value in [
        ("Authentication method", "google-service-account"),
        ("Username", MAILBOX),
        ("Service account key", "saved (never shown)"),
        ("Service account email", SERVICE_ACCOUNT_EMAIL),
        ("Client secret", "none"),
        ("Token URL", ""),
    ]:
        assert line(label, value) in done.stdout
    as_json = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert as_json["service_account_key_set"] is True
    assert as_json["service_account_email"] == SERVICE_ACCOUNT_EMAIL
    assert as_json["client_secret_set"] is False
    private_key = private_key_body(json.loads(key)["private_key"])
    assert private_key not in done.stdout + done.stderr


def test_moving_the_client_secret_to_another_token_url_needs_it_again(autommate) -> None:
    microsoft(autommate, "--client-secret-stdin", stdin=CLIENT_SECRET)

    done = autommate("mailserver", "set", "--token-url", "https://login.example.net/token")

    assert reason(done).startswith("client-secret: Enter the client secret")
    shown = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert shown["token_url"] == TOKEN_URL


@pytest.mark.parametrize("option", ["--client-certificate", "--service-account-key"])
def test_unreadable_credential_files_fail_in_one_line(
    autommate, tmp_path: Path, option: str
) -> None:
    missing = tmp_path / "missing.pem"
    binary = tmp_path / "binary.der"
    binary.write_bytes(b"\x30\x82\xff\xfe\x00")

    for path in (missing, binary, tmp_path):
        assert reason(autommate("mailserver", "set", option, str(path))).startswith(
            f"Cannot read {path}: "
        )
    assert reason(autommate("mailserver", "set", option, "")).startswith(
        f"{option} needs the path of a"
    )


def test_a_credential_file_that_is_not_one_is_refused_without_echoing_it(
    autommate, tmp_path: Path
) -> None:
    key_only = private_key_pem(rsa_key("client-certificate"))

    done = microsoft(autommate, "--client-certificate", written(tmp_path, "key.pem", key_only))

    assert reason(done).startswith("client-certificate: The client certificate holds no certif")
    assert private_key_body(key_only) not in done.stdout + done.stderr
    assert "none" in autommate("mailserver", "show").stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--password-stdin", "--client-secret-stdin"],
            "both",
            "--password-stdin and --client-secret-stdin both read standard input",
        ),
        (
            ["--auth-method", "password", "--client-id", CLIENT_ID],
            None,
            "--client-id is for --auth-method oauth2, not password.",
        ),
        (
            ["--auth-method", "oauth2", "--service-account-key", "key.json"],
            None,
            "--service-account-key is for --auth-method google-service-account, not oauth2.",
        ),
        (
            ["--client-certificate", "client.pem", "--service-account-key", "key.json"],
            None,
            "are for different authentication methods",
        ),
        (
            ["--auth-method", "oauth2", "--password-stdin"],
            SECRET,
            "--password-stdin is for --auth-method password; the method is oauth2.",
        ),
        (["--no-auth", "--client-secret-stdin"], "x", "--no-auth turns the login off"),
        (["--password-stdin"], SECRET, "The login is off: add --auth"),
    ],
    ids=[
        "two-secrets-on-stdin",
        "oauth2-option-with-password",
        "key-with-oauth2",
        "options-of-two-methods",
        "password-with-oauth2",
        "secret-without-login",
        "password-without-login",
    ],
)
def test_contradicting_login_options_are_refused(autommate, args, stdin, message) -> None:
    done = autommate("mailserver", "set", *args, stdin=stdin)

    assert message in reason(done)
    assert json.loads(autommate("mailserver", "show", "--json").stdout)["use_auth"] is False
    assert SECRET not in done.stdout + done.stderr


# Against a real token endpoint (tests/oauth_provider.py) and an SMTP server that takes XOAUTH2.


def _set_test_confirm(autommate, server, *login: str, stdin: str | None = None) -> str:
    """Set the server with `login`, send a test mail, confirm its code; return the test's output."""
    done = autommate(
        "mailserver",
        "set",
        "--host",
        "localhost",
        "--port",
        str(server.port),
        "--protocol",
        "smtp",
        "--tls",
        "--sender-email",
        MAILBOX,
        "--username",
        MAILBOX,
        *login,
        stdin=stdin,
    )
    assert done.returncode == 0, done.stderr
    assert line("Verified", "no") in done.stdout

    tested = autommate("mailserver", "test", "--to", "ops@example.org")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    steps = [row.split(":")[0] for row in tested.stdout.splitlines() if row.startswith("[")]
    assert steps.index("[passed] Get access token") == steps.index("[passed] Log in") - 1
    assert "[passed] Get access token: Got an access token from localhost" in tested.stdout
    assert "[passed] Message accepted" in tested.stdout
    (message,) = server.wait_for(1)
    assert message.login == MAILBOX
    code = CODE.search(message.get_body(("plain",)).get_content())
    assert code is not None

    confirmed = autommate("mailserver", "confirm", code[1])
    assert confirmed.returncode == 0, confirmed.stderr
    assert line("Verified", "yes") in confirmed.stdout
    output: str = tested.stdout
    return output


def test_google_service_account_set_test_and_confirm(
    autommate, smtp_server_factory, token_endpoint, test_ca, tmp_path: Path
) -> None:
    key = token_endpoint.add_service_account(delegated_users=[MAILBOX])
    server = smtp_server_factory("starttls", oauth=token_endpoint, xoauth2_style="google")

    output = _set_test_confirm(
        autommate,
        server,
        "--service-account-key",
        written(tmp_path, "key.json", key),
        "--ca-certificate",
        written(tmp_path, "ca.pem", test_ca.pem),
    )

    assert token_endpoint.token_requests == 1
    assert private_key_body(json.loads(key)["private_key"]) not in output
    shown = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert shown["auth_method"] == "google-service-account"
    assert shown["verified"] is True


def test_microsoft_365_client_secret_set_test_and_confirm(
    autommate, smtp_server_factory, token_endpoint, test_ca, tmp_path: Path
) -> None:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET, mailboxes=[MAILBOX])
    server = smtp_server_factory("starttls", oauth=token_endpoint, password_login=False)

    output = _set_test_confirm(
        autommate,
        server,
        "--token-url",
        token_endpoint.microsoft_url(),
        "--client-id",
        CLIENT_ID,
        "--scope",
        SCOPE,
        "--client-secret-stdin",
        "--ca-certificate",
        written(tmp_path, "ca.pem", test_ca.pem),
        stdin=CLIENT_SECRET,
    )

    assert CLIENT_SECRET not in output


def test_command_sets_and_shows_the_ehlo_name(
    autommate, smtp_server_factory: SMTPServerFactory
) -> None:
    server = smtp_server_factory(require_fqdn_helo=True)
    configured = autommate(
        "mailserver",
        "set",
        "--host",
        server.host,
        "--port",
        str(server.port),
        "--no-tls",
        "--sender-email",
        "noreply@example.org",
        "--ehlo-name",
        "autommate.example.org",
    )
    assert configured.returncode == 0, configured.stderr
    assert f"{'EHLO name:':<24}autommate.example.org" in configured.stdout

    tested = autommate("mailserver", "test", "--to", "ops@example.org")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Greeted as autommate.example.org" in tested.stdout


def test_set_takes_the_send_rate_limit_and_show_prints_it(autommate, smtp_server) -> None:
    done = configure(autommate, smtp_server, "--send-rate", "30", "--max-connections", "3")
    assert done.returncode == 0, done.stderr
    assert f"{'Messages per minute:':<24}30" in done.stdout
    assert f"{'Maximum connections:':<24}3" in done.stdout
    shown = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert (shown["send_rate_per_minute"], shown["max_connections"]) == (30, 3)

    cleared = autommate("mailserver", "set", "--send-rate", "none", "--max-connections", "")
    assert cleared.returncode == 0, cleared.stderr
    assert f"{'Messages per minute:':<24}no limit" in cleared.stdout
    assert "each worker's own (AUTOMMATE_DELIVERY_CONNECTIONS)" in cleared.stdout


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--send-rate", "0", "from 1 to 10,000"),
        ("--send-rate", "lots", "is not a whole number"),
        ("--max-connections", "21", "from 1 to 20"),
    ],
)
def test_set_refuses_a_send_rate_limit_out_of_range(
    autommate, smtp_server, option: str, value: str, message: str
) -> None:
    configure(autommate, smtp_server, "--send-rate", "30")

    done = autommate("mailserver", "set", option, value)

    assert done.returncode != 0
    assert message in done.stderr
    shown = json.loads(autommate("mailserver", "show", "--json").stdout)
    assert (shown["send_rate_per_minute"], shown["max_connections"]) == (30, None)
