"""Run the real `autommate` command in a subprocess, against a database of its own.

The database is migrated once per session (a SQLite file, or a PostgreSQL database when the
suite runs with DATABASE_URL=postgres://…) and copied for each test, so that every test starts
from a fresh installation with one administrator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.destinations import LOOPBACK_DESTINATIONS

AUTOMMATE = Path(sys.executable).with_name("autommate")
SECRET_KEY = "command-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery staple admin"


def _environment(database_url: str, var_dir: Path) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL", "DATABASE_URL"}
        and not key.startswith(("AUTOMMATE_", "DJANGO_SUPERUSER_"))
    }
    environment.update(
        DATABASE_URL=database_url,
        AUTOMMATE_SECRET_KEY=SECRET_KEY,
        AUTOMMATE_DEBUG="0",
        AUTOMMATE_ALLOWED_HOSTS="127.0.0.1",
        AUTOMMATE_VAR_DIR=str(var_dir),
        AUTOMMATE_MAIL_ALLOWED_DESTINATIONS=LOOPBACK_DESTINATIONS,
        # The checkout's development `.env`, if any, is not this installation's.
        AUTOMMATE_ENV_FILE=os.devnull,
    )
    return environment


def _run(
    environment: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AUTOMMATE), *args],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _postgres(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as connection:
        connection.execute(statement)


@dataclass
class Template:
    database_url: str
    sqlite_file: Path | None
    postgres_url: str | None


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    directory = tmp_path_factory.mktemp("command-template")
    postgres = _postgres_url()
    if postgres:
        name = f"autommate_cmd_template_{uuid.uuid4().hex[:8]}"
        _postgres(postgres, f'CREATE DATABASE "{name}"')
        template = Template(_with_database(postgres, name), None, postgres)
    else:
        file = directory / "template.sqlite3"
        template = Template(f"sqlite:///{file}", file, None)
    environment = _environment(template.database_url, directory)
    try:
        for args, extra in [
            (("migrate", "--no-input"), {}),
            (
                ("createsuperuser", "--no-input"),
                {
                    "DJANGO_SUPERUSER_EMAIL": ADMIN_EMAIL,
                    "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
                },
            ),
        ]:
            done = _run({**environment, **extra}, *args)
            assert done.returncode == 0, done.stderr
        if template.sqlite_file is not None:
            # One file: fold the write-ahead log in, so that copying the file copies everything.
            import sqlite3

            with sqlite3.connect(template.sqlite_file) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        yield template
    finally:
        if postgres:
            _postgres(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Installation:
    """A fresh installation with one administrator, and a way to run `autommate` against it."""

    environment: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(self.environment, *args, stdin=stdin)


@pytest.fixture
def autommate(migrated_template: Template, tmp_path: Path) -> Iterator[Installation]:
    if migrated_template.sqlite_file is not None:
        copy = tmp_path / "autommate.sqlite3"
        shutil.copyfile(migrated_template.sqlite_file, copy)
        yield Installation(_environment(f"sqlite:///{copy}", tmp_path))
        return
    assert migrated_template.postgres_url is not None
    template_name = urlsplit(migrated_template.database_url).path.lstrip("/")
    name = f"autommate_cmd_{uuid.uuid4().hex[:8]}"
    _postgres(
        migrated_template.postgres_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'
    )
    try:
        url = _with_database(migrated_template.postgres_url, name)
        yield Installation(_environment(url, tmp_path))
    finally:
        _postgres(migrated_template.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reason(done: subprocess.CompletedProcess[str]) -> str:
    """Return the one-line reason a failed command gave, checking that it failed."""
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("CommandError: ")]
    assert len(lines) == 1, done.stderr
    return lines[0].removeprefix("CommandError: ")
