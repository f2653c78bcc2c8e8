"""`autommate restore FILE`: an installation from its backup, into an empty database."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from autommate.accounts import services
from autommate.accounts.management.backups import backup_path
from autommate.accounts.models import User


class Command(BaseCommand):
    help = (
        "Restore an installation from a file `autommate backup` wrote, into an empty database "
        "(migrated first). Run it with the same version that wrote the backup, and the same "
        "AUTOMMATE_ENCRYPTION_KEYS and AUTOMMATE_SECRET_KEY; upgrade afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the backup file to read (.json or .json.gz)")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        path = backup_path(file)
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        call_command("migrate", interactive=False, verbosity=0)
        if User.objects.exists():
            raise CommandError(
                "The database already holds an installation: restore into an empty database "
                "(a new DATABASE_URL), so nothing is mixed or lost."
            )
        with transaction.atomic():
            call_command("loaddata", str(path), verbosity=0)
            # A backup from before the users list had its search columns leaves them empty.
            services.user_search_columns_refresh()
        self.stdout.write(
            f"Restored the installation from {path}. Start it with the same "
            "AUTOMMATE_ENCRYPTION_KEYS and AUTOMMATE_SECRET_KEY as the one backed up."
        )
