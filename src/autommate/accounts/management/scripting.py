"""What the commands for operators share: whom they act as, and how they answer scripts."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.core.serializers.json import DjangoJSONEncoder

from autommate.accounts.models import Role, User, email_key
from autommate.errors import DomainError

# Exit statuses, as sysexits.h names them: a refusal that passes with time is worth a retry.
EXIT_REFUSED = 1
EXIT_TRY_LATER = 75  # EX_TEMPFAIL


class OperatorCommand(BaseCommand):
    """A command for operators: a refusal or invalid input ends it with one line and a status.

    This is the commands' one mapping of the error model: a `DomainError` exits with its message
    (75 for a rate limit, else 1), a ValidationError with every message on one line (1).
    """

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DomainError as error:
            status = EXIT_TRY_LATER if error.retry_after is not None else EXIT_REFUSED
            raise CommandError(self.refusal_message(error), returncode=status) from None
        except ValidationError as error:
            raise CommandError(one_line(error), returncode=EXIT_REFUSED) from None

    def refusal_message(self, error: DomainError) -> str:
        """Return the line a refusal is reported with."""
        return error.message


def add_output_options(parser: ArgumentParser, *, acts: bool = False) -> None:
    parser.add_argument(
        "--json", action="store_true", help="Print the result as JSON, for scripts."
    )
    if acts:
        parser.add_argument(
            "--actor",
            metavar="EMAIL",
            help="The administrator recorded in the audit log as having done this "
            "(default: the first active administrator).",
        )


def command_actor(email: str | None) -> User:
    """Return the administrator a command acts as, for the audit log and rate limits."""
    actor = command_actor_if_any(email)
    if actor is None:
        raise CommandError(
            "There is no active administrator to act as: create one with "
            "`autommate users add EMAIL --role admin --password-stdin`."
        )
    return actor


def command_actor_if_any(email: str | None) -> User | None:
    """Return the administrator a command acts as, or None on an installation without one."""
    administrators = User.objects.filter(role=Role.ADMINISTRATOR, is_active=True)
    if email:
        actor = administrators.filter(email_key=email_key(email)).first()
        if actor is None:
            raise CommandError(f"{email} is not an active administrator.")
        return actor
    return administrators.order_by("pk").first()


def one_line(error: ValidationError) -> str:
    """Return every message of a validation error on one line, each with its field."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    parts = []
    for field, messages in error.message_dict.items():
        text = " ".join(messages)
        parts.append(text if field == "__all__" else f"{field.replace('_', '-')}: {text}")
    return "; ".join(parts)


def read_secret_from_stdin(option: str = "--password-stdin", what: str = "the password") -> str:
    """Read a secret piped to the command, without the line break that ends it.

    `option` and `what` name the option that asked for it and the secret, for the errors.
    """
    if sys.stdin.isatty():
        raise CommandError(f"{option} expects {what} piped to standard input.")
    secret = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not secret:
        raise CommandError(f"Standard input was empty: pipe {what} to the command.")
    return secret


def write_json(stdout: OutputWrapper, data: Any) -> None:
    stdout.write(json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
