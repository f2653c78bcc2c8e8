"""What the commands for operators share: whom they act as, and how they answer scripts."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, OutputWrapper
from django.core.serializers.json import DjangoJSONEncoder

from autommate.accounts.models import Role, User, email_key


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


def read_secret_from_stdin() -> str:
    """Read a secret piped to the command, without the line break that ends it."""
    if sys.stdin.isatty():
        raise CommandError("--password-stdin expects the password piped to standard input.")
    secret = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not secret:
        raise CommandError("Standard input was empty: pipe the password to the command.")
    return secret


def write_json(stdout: OutputWrapper, data: Any) -> None:
    stdout.write(json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
