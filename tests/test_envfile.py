"""The `.env` file: the product's variables only, the environment winning, errors by line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from autommate.envfile import load_env_file

CHECKOUT = Path(__file__).resolve().parent.parent
AUTOMMATE = Path(sys.executable).with_name("autommate")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_products_variables_are_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / "production.env",
        "# comment\n"
        "AUTOMMATE_DEBUG=0\n"
        "export AUTOMMATE_BASE_URL=https://automate.example.org\n"
        "AUTOMMATE_SECRET_KEY='from the file'\n"
        'DATABASE_URL="postgres://autommate:pa$$word@db/autommate"\n'
        "REDIS_URL=redis://cache:6379/0\n"
        "PATH=/nowhere\n"
        "DJANGO_SETTINGS_MODULE=elsewhere\n"
        "PYTHONPATH=/tmp/evil\n",
    )
    environ = {"AUTOMMATE_ENV_FILE": str(env_file), "AUTOMMATE_SECRET_KEY": "from the environment"}

    loaded = load_env_file(environ)

    assert environ == {
        "AUTOMMATE_ENV_FILE": str(env_file),
        "AUTOMMATE_SECRET_KEY": "from the environment",
        "AUTOMMATE_DEBUG": "0",
        "AUTOMMATE_BASE_URL": "https://automate.example.org",
        # Written as it stands: no `$…` expansion inside a password.
        "DATABASE_URL": "postgres://autommate:pa$$word@db/autommate",
        "REDIS_URL": "redis://cache:6379/0",
    }
    assert "AUTOMMATE_SECRET_KEY" not in loaded


def test_the_working_directorys_env_file_is_read(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / ".env", "AUTOMMATE_DEBUG=1\n")
    monkeypatch.chdir(tmp_path)

    environ: dict[str, str] = {}
    load_env_file(environ)

    assert environ == {"AUTOMMATE_DEBUG": "1"}


def test_without_an_env_file_nothing_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {"AUTOMMATE_DEBUG": "0"}

    assert load_env_file(environ) == {}
    assert environ == {"AUTOMMATE_DEBUG": "0"}


def test_a_line_that_cannot_be_read_is_refused_by_number_without_its_text(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "AUTOMMATE_DEBUG=1\nAUTOMMATE_SECRET_KEY s3cret value\n")
    environ = {"AUTOMMATE_ENV_FILE": str(env_file)}

    with pytest.raises(ImproperlyConfigured, match=r"line 2: not a NAME=value line") as refused:
        load_env_file(environ)

    assert "s3cret" not in str(refused.value)
    assert environ == {"AUTOMMATE_ENV_FILE": str(env_file)}


def test_a_named_env_file_that_is_missing_is_refused(tmp_path: Path) -> None:
    environ = {"AUTOMMATE_ENV_FILE": str(tmp_path / "missing.env")}

    with pytest.raises(ImproperlyConfigured, match=r"^AUTOMMATE_ENV_FILE names .*missing\.env"):
        load_env_file(environ)


def bare_environment() -> dict[str, str]:
    """The environment of a shell with none of the product's variables set."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTOMMATE_", "DJANGO_"))
        and name not in {"DATABASE_URL", "REDIS_URL"}
    }


def run(directory: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=directory, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_after_make_runs_setup_every_command_in_the_checkout_just_works(tmp_path: Path) -> None:
    # A fresh checkout: the Makefile, and the virtual environment it would have made.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(CHECKOUT / "Makefile", checkout / "Makefile")
    env = bare_environment()

    wrote = run(checkout, "make", "--no-print-directory", ".env", env=env)
    setup = run(checkout, str(AUTOMMATE), "setup", env=env)
    show = run(checkout, str(AUTOMMATE), "mailserver", "show", env=env)

    assert wrote.returncode == 0, wrote.stderr
    assert "AUTOMMATE_DEBUG=1" in (checkout / ".env").read_text()
    assert setup.returncode == 0, setup.stderr
    assert "Traceback" not in setup.stderr
    assert show.returncode == 0, show.stderr
    assert "Traceback" not in show.stderr
    assert (checkout / "var" / "autommate.sqlite3").is_file()
    assert (checkout / "var" / "secret_key").is_file()


def test_a_production_env_file_configures_the_command(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / "autommate.env",
        "AUTOMMATE_DEBUG=0\n"
        "AUTOMMATE_SECRET_KEY=production-secret-key-0123456789-abcdefghijklmnopqrstu\n"
        f"DATABASE_URL=sqlite:///{tmp_path / 'production.sqlite3'}\n"
        f"AUTOMMATE_VAR_DIR={tmp_path / 'var'}\n",
    )
    env = bare_environment() | {"AUTOMMATE_ENV_FILE": str(env_file)}

    migrated = run(tmp_path, str(AUTOMMATE), "migrate", "--no-input", env=env)
    without_key = run(tmp_path, str(AUTOMMATE), "check", env=env | {"AUTOMMATE_SECRET_KEY": ""})

    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "production.sqlite3").is_file()
    # The environment wins even when it sets a variable to nothing.
    assert without_key.returncode != 0
    assert "AUTOMMATE_SECRET_KEY is required" in without_key.stderr
