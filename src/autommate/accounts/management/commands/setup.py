"""`autommate setup`: bring a fresh or upgraded installation to a usable state."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from autommate.accounts.models import Role, User, email_key
from autommate.accounts.services import user_create

DEFAULT_ADMIN_EMAIL = "admin@example.org"


class Command(BaseCommand):
    help = (
        "Apply database migrations, collect static files and, when there is no administrator, "
        "create the first one (from DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD, or "
        "admin@example.org with a generated password that is printed once)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write("Database migrated and static files collected.")

        if User.objects.filter(role=Role.ADMINISTRATOR, is_active=True).exists():
            self.stdout.write("An administrator exists; none was created.")
            return

        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "").strip() or DEFAULT_ADMIN_EMAIL
        if User.objects.filter(email_key=email_key(email)).exists():
            # Never take over an existing account: the operator chooses another address, or
            # promotes that user with `autommate shell`.
            self.stderr.write(
                self.style.WARNING(
                    f"There is no active administrator, but {email} already has an account. "
                    "Set DJANGO_SUPERUSER_EMAIL to another address and run `autommate setup` "
                    "again."
                )
            )
            return

        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(18)
        try:
            user_create(email=email, password=password, role=Role.ADMINISTRATOR)
        except ValidationError as error:
            # The password policy refuses with a list; the model's checks name the field.
            variable = (
                "DJANGO_SUPERUSER_EMAIL" if _names_email(error) else "DJANGO_SUPERUSER_PASSWORD"
            )
            raise CommandError(f"{variable}: {' '.join(error.messages)}") from None

        lines = ["First administrator created", "", f"Email:    {email}"]
        if generated:
            lines += [f"Password: {password}", "", "The password is shown only this once:"]
            lines += ["store it now, or change it after signing in."]
        else:
            lines += ["Password: the one in DJANGO_SUPERUSER_PASSWORD"]
        self.stdout.write(self.style.SUCCESS(_boxed(lines)))


def _names_email(error: ValidationError) -> bool:
    return hasattr(error, "error_dict") and "email" in error.error_dict


def _boxed(lines: list[str]) -> str:
    """Frame lines in ASCII so the credentials stand out in a scrolling terminal."""
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])
