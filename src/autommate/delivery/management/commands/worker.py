from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.checks import Tags
from django.core.checks.registry import registry
from django.core.management.base import BaseCommand, CommandParser

from autommate.database_state import require_database_ready
from autommate.delivery.worker import run_worker


class Command(BaseCommand):
    help = "Run a background worker: sends queued mail and runs every other background task."

    def check(  # type: ignore[override]
        self, app_configs: Any = None, tags: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        # Every check but the URL configuration's (and, as for any command, the database's):
        # the worker serves no URL, and checking them would import every page and the JSON API,
        # some 15 MiB, into it. The one check without a tag, of the task backends, is what the
        # worker does first anyway.
        if tags is None:
            tags = sorted(registry.tags_available() - {Tags.urls, Tags.database})
        super().check(app_configs, tags, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds to wait between polls when there is nothing to do (default 1).",
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Run what is due now, then exit (for cron-style deployments and tests).",
        )
        parser.add_argument("--worker-id", default=None, help="A unique name for this worker.")

    def handle(
        self, *args: Any, interval: float, batch: bool, worker_id: str | None, **options: Any
    ) -> None:
        require_database_ready()
        run_worker(interval=interval, batch=batch, worker_id=worker_id)
