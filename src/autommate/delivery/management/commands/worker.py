from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from autommate.database_state import require_database_ready
from autommate.delivery.worker import run_worker


class Command(BaseCommand):
    help = "Run a background worker: sends queued mail and runs every other background task."

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
