"""`autommate users list|add|deactivate|unlock`, run as an operator would."""

from __future__ import annotations

import json
import re

from tests.commands.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, reason

CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")

# Signs in from a shell as the sign-in page does: ten wrong passwords from ten addresses, then
# the right one from an eleventh; prints what each attempt answered.
SIGN_IN = """
from autommate.accounts.signin import sign_in_attempt
from autommate.errors import DomainError
for number in range({wrong}):
    try:
        client = "198.51.100." + str(number)
        sign_in_attempt(email="{email}", password="wrong" * 5, client_address=client)
    except DomainError as error:
        print(error.code)
try:
    sign_in_attempt(email="{email}", password="{password}", client_address="203.0.113.7")
    print("signed in")
except DomainError as error:
    print(error.code)
"""
# Prints who unlocked whom, as the audit log holds it.
AUDITED = """
from autommate.audit.models import AuditEvent
for event in AuditEvent.objects.filter(action="{action}"):
    print(event.actor_label, event.target)
"""


def test_list_shows_the_administrator(autommate) -> None:
    done = autommate("users", "list")
    assert done.returncode == 0, done.stderr
    assert ADMIN_EMAIL in done.stdout
    assert "administrator" in done.stdout


def test_list_as_json(autommate) -> None:
    (admin,) = json.loads(autommate("users", "list", "--json").stdout)
    assert admin["email"] == ADMIN_EMAIL
    assert admin["role"] == "admin"
    assert admin["is_active"] is True
    assert "password" not in admin


def test_add_then_search(autommate) -> None:
    done = autommate("users", "add", "mike@example.org", "--full-name", "Mike User", "--json")
    assert done.returncode == 0, done.stderr
    added = json.loads(done.stdout)
    assert added["email"] == "mike@example.org"
    assert added["has_password"] is False
    found = json.loads(autommate("users", "list", "--search", "MIKE", "--json").stdout)
    assert [user["full_name"] for user in found] == ["Mike User"]


def test_add_with_password_from_stdin(autommate) -> None:
    done = autommate(
        "users",
        "add",
        "ops@example.org",
        "--role",
        "admin",
        "--password-stdin",
        "--json",
        stdin="a long enough passphrase\n",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["has_password"] is True
    assert "passphrase" not in done.stdout + done.stderr


def test_add_refuses_a_weak_password_with_the_policy(autommate) -> None:
    done = autommate("users", "add", "ops@example.org", "--password-stdin", stdin="password\n")
    assert "too short" in reason(done)


def test_add_refuses_a_taken_address(autommate) -> None:
    done = autommate("users", "add", "ADMIN@example.org")
    assert reason(done) == "email: A user with this email address already exists."


def test_add_refuses_an_invalid_address(autommate) -> None:
    assert reason(autommate("users", "add", "not-an-address")).startswith("email: ")


def test_deactivate(autommate) -> None:
    autommate("users", "add", "mike@example.org")
    done = autommate("users", "deactivate", "Mike@Example.org", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["is_active"] is False


def test_deactivate_refuses_the_acting_administrator(autommate) -> None:
    done = autommate("users", "deactivate", ADMIN_EMAIL)
    assert reason(done) == "You cannot remove your own administrator access."


def test_deactivate_unknown_user_fails(autommate) -> None:
    assert reason(autommate("users", "deactivate", "nobody@example.org")) == (
        "There is no user nobody@example.org."
    )


def test_unknown_actor_fails(autommate) -> None:
    done = autommate("users", "add", "mike@example.org", "--actor", "nobody@example.org")
    assert reason(done) == "nobody@example.org is not an active administrator."


def test_usage_errors_exit_non_zero(autommate) -> None:
    assert autommate("users").returncode != 0
    assert autommate("users", "promote", "x@example.org").returncode != 0


def test_unlock_lets_the_only_administrator_sign_in_again(autommate) -> None:
    locked = autommate(
        "shell",
        "--verbosity",
        "0",
        "-c",
        SIGN_IN.format(wrong=10, email=ADMIN_EMAIL, password=ADMIN_PASSWORD),
    )
    assert locked.stdout.split()[-1] == "rate_limited", locked.stderr

    done = autommate("users", "unlock", "Admin@Example.org")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"Logging in to {ADMIN_EMAIL} is unlocked."
    again = autommate(
        "shell",
        "--verbosity",
        "0",
        "-c",
        SIGN_IN.format(wrong=0, email=ADMIN_EMAIL, password=ADMIN_PASSWORD),
    )
    assert again.stdout.strip() == "signed in", again.stderr
    events = autommate("shell", "--verbosity", "0", "-c", AUDITED.format(action="sign_in_unlocked"))
    assert events.stdout.split() == [ADMIN_EMAIL, ADMIN_EMAIL]


def test_unlock_unknown_user_fails(autommate) -> None:
    assert reason(autommate("users", "unlock", "nobody@example.org")) == (
        "There is no user nobody@example.org."
    )


def test_invite_and_send_reset_refuse_while_mail_is_unverified(autommate) -> None:
    assert autommate("users", "add", "nina@example.org", "--json").returncode == 0

    for action in ("invite", "send-reset"):
        done = autommate("users", action, "nina@example.org")
        assert done.returncode == 1, action
        assert "mail settings are not verified" in reason(done)


def test_invite_refuses_an_unknown_user(autommate) -> None:
    done = autommate("users", "invite", "nobody@example.org")
    assert done.returncode == 1
    assert "There is no user nobody@example.org." in reason(done)


# Prints the mail log as the worker will read it: kind, recipient, state, one line each.
MAIL_LOG = """
from autommate.delivery.models import OutgoingMessage
for message in OutgoingMessage.objects.exclude(kind="test").order_by("id"):
    print(message.kind, message.recipient, message.state)
"""


def _mail_verified(autommate, server) -> None:
    """Save mail settings that send through `server`, and confirm a test mail's code."""
    done = autommate(
        "mailserver",
        "set",
        "--host",
        server.host,
        "--port",
        str(server.port),
        "--protocol",
        "smtp",
        "--no-tls",
        "--sender-email",
        "noreply@example.org",
    )
    assert done.returncode == 0, done.stderr
    assert autommate("mailserver", "test", "--to", ADMIN_EMAIL).returncode == 0
    (test_mail,) = server.wait_for(1)
    code = CODE.search(test_mail.get_body(("plain",)).get_content())
    assert code is not None
    confirmed = autommate("mailserver", "confirm", code[1])
    assert confirmed.returncode == 0, confirmed.stderr
    server.messages.clear()


def _mail_log(autommate) -> list[str]:
    done = autommate("shell", "--verbosity", "0", "-c", MAIL_LOG)
    assert done.returncode == 0, done.stderr
    lines: list[str] = done.stdout.splitlines()
    return lines


def test_invite_queues_the_invitation_and_the_worker_sends_it(autommate, smtp_server) -> None:
    _mail_verified(autommate, smtp_server)
    assert autommate("users", "add", "nina@example.org").returncode == 0

    done = autommate("users", "invite", "Nina@Example.org")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "An invitation has been sent to nina@example.org."
    assert done.stderr == ""
    assert _mail_log(autommate) == ["invitation nina@example.org queued"]
    sent = autommate("worker", "--batch")
    assert sent.returncode == 0, sent.stderr
    (invitation,) = smtp_server.wait_for(1)
    assert invitation["To"] == "nina@example.org"
    assert "/invitation/" in invitation.get_body(("plain",)).get_content()
    assert _mail_log(autommate) == ["invitation nina@example.org sent"]
    events = autommate("shell", "--verbosity", "0", "-c", AUDITED.format(action="invitation_sent"))
    assert events.stdout.split() == [ADMIN_EMAIL, "nina@example.org"]


def test_send_reset_queues_a_reset_link_while_forgot_password_is_off(
    autommate, smtp_server
) -> None:
    _mail_verified(autommate, smtp_server)
    added = autommate(
        "users", "add", "ops@example.org", "--password-stdin", stdin="a long enough passphrase\n"
    )
    assert added.returncode == 0, added.stderr

    done = autommate("users", "send-reset", "ops@example.org", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["email"] == "ops@example.org"
    assert _mail_log(autommate) == ["reset ops@example.org queued"]
    plain = autommate("users", "send-reset", "ops@example.org")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[0] == (
        "A password reset link has been sent to ops@example.org."
    )
    assert autommate("worker", "--batch").returncode == 0
    # The second link voided the first, whose mail is not sent: one mail, with a working link.
    (reset,) = smtp_server.wait_for(1)
    assert reset["To"] == "ops@example.org"
    assert "/reset-password/" in reset.get_body(("plain",)).get_content()
    assert _mail_log(autommate) == ["reset ops@example.org failed", "reset ops@example.org sent"]


def test_send_reset_to_an_unknown_user_fails_on_stderr(autommate) -> None:
    done = autommate("users", "send-reset", "nobody@example.org")
    assert done.returncode == 1
    assert done.stdout == ""
    assert reason(done) == "There is no user nobody@example.org."


def test_invite_refuses_a_user_who_has_a_password(autommate, smtp_server) -> None:
    _mail_verified(autommate, smtp_server)
    autommate("users", "add", "ops@example.org", "--password-stdin", stdin="a long enough pass\n")

    done = autommate("users", "invite", "ops@example.org")

    assert reason(done) == (
        "ops@example.org has a password already: send a password reset link instead."
    )
    assert _mail_log(autommate) == []


def test_add_with_a_language_then_make_it_automatic(autommate) -> None:
    done = autommate("users", "add", "nina@example.org", "--language", "tr", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["language"] == "tr"

    changed = autommate("users", "language", "nina@example.org", "de")
    assert changed.returncode == 0, changed.stderr
    assert "The language of nina@example.org is de." in changed.stdout
    automatic = autommate("users", "language", "nina@example.org", "auto", "--json")
    assert json.loads(automatic.stdout)["language"] is None


def test_a_language_the_product_does_not_have_is_refused(autommate) -> None:
    autommate("users", "add", "nina@example.org")

    done = autommate("users", "language", "nina@example.org", "fr")

    assert done.returncode != 0
    assert "invalid choice: 'fr'" in done.stderr
    (nina,) = json.loads(autommate("users", "list", "--search", "nina", "--json").stdout)
    assert nina["language"] is None
