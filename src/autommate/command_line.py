"""The `autommate` console script: Django's management utility, with no traceback for people.

A configuration error, a database that is down or lacks migrations, and any other failure end
the command with one or two lines on standard error that name the problem and the fix, and a
non-zero exit status. `--traceback` shows Python's traceback for a bug report. `--help` works
without any configuration.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from autommate.redaction import redact

# Commands whose product name is not a valid Python module name.
COMMAND_ALIASES = {"forgot-password": "forgot_password"}
HELP_FLAGS = frozenset({"-h", "--help", "--version"})
# Exit statuses, as sysexits.h names them.
EXIT_FAILURE = 1
EXIT_CONFIG = 78  # EX_CONFIG: fix the configuration, then try again.
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: the database is down or not migrated.
EXIT_INTERRUPTED = 130
PREFIX = "autommate: "


def main(argv: list[str] | None = None) -> None:
    arguments = _aliased(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autommate.settings")
    try:
        problem = _configure()
        if problem is not None and not _asks_for_help(arguments):
            _fail(problem, EXIT_CONFIG)
        if problem is not None:
            with _configuration_for_help():
                _execute(arguments)
            _say(f"note: the configuration has an error. {problem.splitlines()[0]}")
            return
        _execute(arguments)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:
        if "--traceback" in arguments:
            raise
        message, status = explain(error)
        _fail(message, status)


def explain(error: BaseException) -> tuple[str, int]:
    """Return the lines that explain an error a command stopped with, and its exit status."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError

    if isinstance(error, ImproperlyConfigured):
        return _configuration_message(error), EXIT_CONFIG
    from autommate.database_state import DatabaseNotReady, database_problem

    if isinstance(error, DatabaseNotReady):
        return str(error), EXIT_UNAVAILABLE
    if isinstance(error, DatabaseError):
        try:
            problem = database_problem()
        except Exception:  # Explaining must not fail in its turn.
            problem = None
        if problem is not None:
            return problem, EXIT_UNAVAILABLE
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (
        f"Unexpected error: {type(error).__name__}{': ' if first else ''}{redact(first)}\n"
        "Run the command again with --traceback to see where, and report it.",
        EXIT_FAILURE,
    )


def _configure() -> str | None:
    """Load the settings; return what is wrong with the configuration, or None."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - reading a setting loads them all
    except ImproperlyConfigured as error:
        return _configuration_message(error)
    return None


def _configuration_message(error: BaseException) -> str:
    return (
        f"Configuration error: {error}\n"
        "Set it in the environment or in .env (see the README's Configuration section)."
    )


@contextmanager
def _configuration_for_help() -> Iterator[None]:
    """Load the settings with a neutral configuration, enough to list commands and options."""
    for name in [n for n in os.environ if n.startswith("AUTOMMATE_")]:
        del os.environ[name]
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="autommate-help-") as directory:
        os.environ.update(
            AUTOMMATE_ENV_FILE=os.devnull,
            AUTOMMATE_VAR_DIR=directory,
            AUTOMMATE_SECRET_KEY="only-for-showing-help-" + "x" * 40,
        )
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - reading a setting loads them all
        yield


def _asks_for_help(arguments: list[str]) -> bool:
    return not arguments or arguments[0] == "help" or bool(HELP_FLAGS & set(arguments))


def _aliased(arguments: list[str]) -> list[str]:
    # `autommate forgot-password …` and `autommate help forgot-password`.
    for index in (0, 1) if arguments[:1] == ["help"] else (0,):
        if index < len(arguments):
            arguments[index] = COMMAND_ALIASES.get(arguments[index], arguments[index])
    return arguments


def _execute(arguments: list[str]) -> None:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["autommate", *arguments])


def _say(message: str) -> None:
    for line in message.splitlines():
        sys.stderr.write(f"{PREFIX}{line}\n")
    sys.stderr.flush()


def _fail(message: str, status: int) -> None:
    _say(message)
    sys.exit(status)
