"""`autommate mailserver show|set|test|confirm`, run as an operator would."""

from __future__ import annotations

import json
import re

from tests.commands.conftest import reason

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
    assert "Verified:           no" in done.stdout


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
    assert "Verified:           yes" in confirmed.stdout
    enabled = autommate("forgot-password", "enable", "--json")
    assert enabled.returncode == 0, enabled.stderr
    assert json.loads(enabled.stdout)["enabled"] is True


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
