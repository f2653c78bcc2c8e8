"""`autommate backup` and `autommate restore` round-trip an installation, secrets intact."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.commands.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Installation, reason

SMTP_PASSWORD = "s3cret smtp pass-word"
SHOW_PASSWORD = (
    "from autommate.mailserver.selectors import mail_server_get; "
    "print(mail_server_get().password())"
)
CHECK_ADMIN = (
    "from autommate.accounts.models import User; "
    f"print(User.objects.get(email={ADMIN_EMAIL!r}).check_password({ADMIN_PASSWORD!r}))"
)


def save_mail_settings(autommate: Installation) -> None:
    saved = autommate(
        "mailserver", "set", "--host", "127.0.0.1", "--port", "2525", "--tls",
        "--sender-email", "noreply@example.org", "--username", "mailer", "--password-stdin",
        stdin=SMTP_PASSWORD,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr


def empty_installation(autommate: Installation, tmp_path: Path) -> Installation:
    """The same keys, a new empty database: a new machine restoring the backup."""
    return Installation(
        autommate.environment | {"DATABASE_URL": f"sqlite:///{tmp_path / 'restored.sqlite3'}"}
    )


def test_a_backup_restores_into_an_empty_database_with_its_secrets(
    autommate: Installation, tmp_path: Path
) -> None:
    save_mail_settings(autommate)
    enabled = autommate("users", "add", "mike@example.org", "--role", "user")
    assert enabled.returncode == 0, enabled.stderr
    backup = tmp_path / "autommate-backup.json.gz"

    written = autommate("backup", str(backup))
    restored = empty_installation(autommate, tmp_path)
    done = restored("restore", str(backup))

    assert written.returncode == 0, written.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert done.returncode == 0, done.stderr
    password = restored("shell", "--no-imports", "-c", SHOW_PASSWORD)
    assert password.stdout.strip() == SMTP_PASSWORD, password.stderr
    assert restored("shell", "--no-imports", "-c", CHECK_ADMIN).stdout.strip() == "True"
    users = json.loads(restored("users", "list", "--json").stdout)
    assert {user["email"] for user in users} == {ADMIN_EMAIL, "mike@example.org"}


def test_the_backup_holds_the_secret_only_encrypted(
    autommate: Installation, tmp_path: Path
) -> None:
    save_mail_settings(autommate)
    backup = tmp_path / "backup.json"

    assert autommate("backup", str(backup)).returncode == 0

    text = backup.read_text()
    assert SMTP_PASSWORD not in text
    assert '"password_encrypted": "' in text


def test_restore_refuses_a_database_that_holds_an_installation(
    autommate: Installation, tmp_path: Path
) -> None:
    backup = tmp_path / "backup.json"
    assert autommate("backup", str(backup)).returncode == 0

    refused = autommate("restore", str(backup))

    assert "already holds an installation" in reason(refused)


def test_backup_refuses_to_overwrite_or_an_unreadable_name(
    autommate: Installation, tmp_path: Path
) -> None:
    existing = tmp_path / "backup.json"
    existing.write_text("keep me")

    assert "exists" in reason(autommate("backup", str(existing)))
    assert existing.read_text() == "keep me"
    assert ".json" in reason(autommate("backup", str(tmp_path / "backup.tar")))
