"""Whether the database can be used: reachable, and migrated to this version's schema.

Commands and `autommate serve` ask before they start; the console script explains a database
error a command meets on the way with the same words.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

MIGRATE_FIX = "Run `autommate setup` (it migrates, and may be run again), then try again."
CONNECT_FIX = "Start the database, or correct DATABASE_URL (in the environment or .env)."


class DatabaseNotReady(Exception):
    """The database is down or not migrated; the message says which, and the fix."""


def require_database_ready() -> None:
    """Raise `DatabaseNotReady` unless the database is reachable and fully migrated."""
    problem = database_problem()
    if problem is not None:
        raise DatabaseNotReady(problem)


def describe_database(alias: str = DEFAULT_DB_ALIAS) -> str:
    """Name the configured database without its credentials: `postgresql db.example:5432/x`."""
    database = settings.DATABASES[alias]
    engine = str(database.get("ENGINE", "")).rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"SQLite file {database.get('NAME')}"
    host = database.get("HOST") or "localhost"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{engine} {host}{port}/{database.get('NAME')}"


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> int:
    """Return how many migrations the database lacks (connecting raises when it is down)."""
    executor = MigrationExecutor(connections[alias])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def not_migrated_message(count: int) -> str:
    noun = "migration" if count == 1 else "migrations"
    return (
        f"The database ({describe_database()}) is not up to date: {count} {noun} to apply.\n"
        f"{MIGRATE_FIX}"
    )


def unreachable_message(error: BaseException) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"Cannot use the database ({describe_database()}): {first}\n{CONNECT_FIX}"


def database_problem() -> str | None:
    """Return what stops this process from using the database (two lines), or None."""
    from django.db import DatabaseError

    try:
        count = pending_migrations()
    except DatabaseError as error:
        return unreachable_message(error)
    return not_migrated_message(count) if count else None
