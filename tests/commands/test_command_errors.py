"""No traceback reaches a person: every failure of `autommate` is one or two lines and a status.

Each test runs the real console script in a process of its own, in an empty working directory,
with none of the product's variables set except those the test names.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

AUTOMMATE = Path(sys.executable).with_name("autommate")
SECRET_KEY = "command-error-test-secret-key-0123456789-abcdefghijklmnop"
EXIT_CONFIG = 78
EXIT_UNAVAILABLE = 69

# Every kind of command: the operator's, Django's own, and the long-running ones.
COMMANDS = [
    ("mailserver", "show"),
    ("forgot-password", "status"),
    ("users", "list"),
    ("createsuperuser", "--no-input", "--email", "ops@example.org"),
    ("worker", "--batch"),
    ("serve", "--port", "0"),
]


def run(directory: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTOMMATE_", "DJANGO_"))
        and name not in {"DATABASE_URL", "REDIS_URL"}
    }
    environment |= {"AUTOMMATE_VAR_DIR": str(directory / "var"), **variables}
    return subprocess.run(
        [str(AUTOMMATE), *args],
        env=environment,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def explained(done: subprocess.CompletedProcess[str]) -> list[str]:
    """Return the lines a failed command explained itself with, checking their shape."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert 1 <= len(lines) <= 2, done.stderr
    assert all(line.startswith("autommate: ") for line in lines), done.stderr
    return lines


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_help_works_without_any_configuration(tmp_path: Path) -> None:
    done = run(tmp_path, "--help")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for command in ("mailserver", "forgot_password", "users", "serve", "worker", "setup"):
        assert command in done.stdout
    assert "AUTOMMATE_SECRET_KEY is required" in done.stderr


@pytest.mark.parametrize("command", ["mailserver", "forgot-password", "serve"])
def test_a_commands_help_works_without_any_configuration(tmp_path: Path, command: str) -> None:
    done = run(tmp_path, command, "--help")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith(f"usage: autommate {command.replace('-', '_')}")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_secret_key_names_the_variable_and_the_fix(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = run(tmp_path, *command, AUTOMMATE_DEBUG="0")

    first, *_ = explained(done)
    assert done.returncode == EXIT_CONFIG
    assert "AUTOMMATE_SECRET_KEY is required when AUTOMMATE_DEBUG is off" in first
    assert "secrets.token_urlsafe" in first


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysqlx://nobody@db.example/autommate"),
        ("DATABASE_URL", "not an address"),
        ("AUTOMMATE_TRUSTED_PROXIES", "one"),
        ("AUTOMMATE_BASE_URL", "automate.example.org"),
        ("AUTOMMATE_ENV_FILE", "/nonexistent/autommate.env"),
        ("AUTOMMATE_TIME_ZONE", "Mars/Olympus_Mons"),
        ("AUTOMMATE_TIME_ZONE", "../../etc/passwd"),
    ],
)
def test_each_configuration_error_prints_its_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    done = run(tmp_path, "mailserver", "show", AUTOMMATE_SECRET_KEY=SECRET_KEY, **{variable: value})

    first, *_ = explained(done)
    assert done.returncode == EXIT_CONFIG
    assert first.startswith(f"autommate: Configuration error: {variable} ")


def test_a_secret_key_file_that_is_missing_is_named(tmp_path: Path) -> None:
    done = run(tmp_path, "mailserver", "show", AUTOMMATE_SECRET_KEY_FILE="/nonexistent/secret_key")

    first, *_ = explained(done)
    assert done.returncode == EXIT_CONFIG
    assert first.startswith(
        "autommate: Configuration error: AUTOMMATE_SECRET_KEY_FILE names /nonexistent/secret_key"
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_database_that_is_down_is_named_without_its_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = f"postgres://autommate:db-password-123@127.0.0.1:{closed_port()}/autommate"

    done = run(tmp_path, *command, AUTOMMATE_SECRET_KEY=SECRET_KEY, DATABASE_URL=url)

    first, fix = explained(done)
    assert done.returncode == EXIT_UNAVAILABLE
    assert "Cannot use the database (postgresql 127.0.0.1:" in first
    assert "Start the database, or correct DATABASE_URL" in fix
    assert "db-password-123" not in done.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_missing_migrations_say_to_run_setup(tmp_path: Path, command: tuple[str, ...]) -> None:
    # An installation whose database was set up by an older version: one app behind.
    migrated = run(
        tmp_path, "migrate", "accounts", "0001", "--no-input", AUTOMMATE_SECRET_KEY=SECRET_KEY
    )
    assert migrated.returncode == 0, migrated.stderr

    done = run(tmp_path, *command, AUTOMMATE_SECRET_KEY=SECRET_KEY)

    first, fix = explained(done)
    assert done.returncode == EXIT_UNAVAILABLE
    assert "is not up to date" in first
    assert "migrations to apply" in first
    assert fix.startswith("autommate: Run `autommate setup`")


def test_an_unexpected_error_is_one_line_and_traceback_shows_it(tmp_path: Path) -> None:
    # A bug stands in for every other failure: the shell's command with code that raises.
    code = "raise RuntimeError('boom')"

    done = run(tmp_path, "shell", "-c", code, AUTOMMATE_SECRET_KEY=SECRET_KEY)
    again = run(tmp_path, "shell", "--traceback", "-c", code, AUTOMMATE_SECRET_KEY=SECRET_KEY)

    first, fix = explained(done)
    assert first == "autommate: Unexpected error: RuntimeError: boom"
    assert "--traceback" in fix
    assert again.returncode != 0
    assert "Traceback" in again.stderr
