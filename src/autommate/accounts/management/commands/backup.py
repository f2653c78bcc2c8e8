"""`autommate backup FILE`: the whole installation's data in one file, secrets still encrypted."""

from __future__ import annotations

import os
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from autommate.accounts.management.backups import EXCLUDED, backup_path


class Command(BaseCommand):
    help = (
        "Write every table of the installation to FILE (JSON, .json.gz to compress), with the "
        "saved mail server secrets still encrypted: keep AUTOMMATE_ENCRYPTION_KEYS (and "
        "AUTOMMATE_SECRET_KEY) to restore it. Safe while the server runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the backup file to write (.json or .json.gz)")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        path = backup_path(file)
        if path.exists():
            raise CommandError(f"{path} exists; name a new file, so no backup is overwritten.")
        # Password hashes and encrypted secrets: readable by the operator only, from the start.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            call_command(
                "dumpdata",
                exclude=EXCLUDED,
                natural_foreign=True,
                natural_primary=True,
                output=str(path),
                verbosity=0,
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.stdout.write(f"Wrote the backup to {path}.")
