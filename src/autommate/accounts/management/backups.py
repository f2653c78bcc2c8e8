"""What `autommate backup` and `autommate restore` share: which tables, which file names."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

# Rebuilt by `migrate` on restore (content types, permissions), or only valid for the running
# servers (sessions): not worth keeping.
EXCLUDED = ["contenttypes", "auth.permission", "sessions"]
SUFFIXES = (".json", ".json.gz", ".json.bz2", ".json.xz")


def backup_path(value: str) -> Path:
    """Return the backup file named on the command line, refusing a name loaddata cannot read."""
    if not value.endswith(SUFFIXES):
        raise CommandError(
            f"{value}: a backup file's name ends with .json, or .json.gz to compress it."
        )
    return Path(value)
