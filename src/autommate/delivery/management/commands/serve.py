"""`autommate serve`: the web server, the task worker and, on request, the mail catcher."""

from __future__ import annotations

import logging
import os
import sys
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from autommate.database_state import require_database_ready
from autommate.delivery.supervisor import Child, Supervisor, exec_supervisor

__all__ = ["Child", "Command", "Supervisor"]

logger = logging.getLogger("autommate.delivery.serve")

# glibc's malloc gives each thread that allocates an arena of its own (up to eight per core),
# and memory freed in one arena serves no other: a web worker's four threads each hold one.
# Python allocates under its global lock, so many arenas buy no speed; two keep a web worker
# about 1 MiB smaller after pages and 2 MiB once it has served the API (measured with
# `python -m bench --only memory`). One arena saves 0.5-1 MiB more, but made
# concurrent forgot-password requests slower in `python -m bench --only forgot-password`. An
# operator's own setting is kept.
MALLOC_ARENA_MAX = "2"


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError("must be 1 or more")
    return number


class Command(BaseCommand):
    help = (
        "Run the production web server (gunicorn) with an embedded task worker, and with "
        "--dev-mail the development mail catcher. Children that die are restarted; SIGTERM or "
        "Ctrl-C stops them all."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on")
        parser.add_argument("--workers", type=_positive_int, default=2, help="web server processes")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start the task worker (run `autommate worker` separately)",
        )
        parser.add_argument(
            "--dev-mail", action="store_true", help="also start the development mail catcher"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Children that cannot use the database would fail one request or task at a time.
        require_database_ready()
        host: str = options["host"]
        bind = f"[{host}]:{options['port']}" if ":" in host else f"{host}:{options['port']}"
        workers = str(options["workers"])
        python = [sys.executable, "-m"]
        children = [
            Child(
                "web server",
                [*python, "autommate.delivery.webserver", "--bind", bind, "--workers", workers],
                essential=True,
            )
        ]
        if not options["no_worker"]:
            children.append(Child("task worker", [*python, "autommate", "worker"]))
        if options["dev_mail"]:
            children.append(Child("mail catcher", [*python, "autommate", "devmail"]))

        addresses = self._addresses(f"http://{bind}", dev_mail=options["dev_mail"])
        if settings.LOG_FORMAT == "json":
            # Every line of the process is a JSON object then, the start too.
            logger.info(
                "Autom Mate is starting", extra={"base_url": settings.BASE_URL, "bind": bind}
            )
        else:
            self.stdout.write(addresses)
            self.stdout.flush()
        # What Django and the application take in memory is of no use to the supervisor: it
        # goes on as a fresh interpreter in this same process, which signals still reach.
        connections.close_all()
        # For the supervisor and, inherited, every child it starts.
        os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
        exec_supervisor(children)

    def _addresses(self, listening: str, *, dev_mail: bool) -> str:
        lines = ["", "Autom Mate is starting. Open:", f"  {settings.BASE_URL}/"]
        lines.append(f"  {settings.BASE_URL}/login/  (log in)")
        if settings.DEBUG:
            lines.append(f"  {settings.BASE_URL}/dev/mail/  (mail caught in development)")
        if dev_mail:
            smtp = f"{settings.DEV_MAIL_HOST}:{settings.DEV_MAIL_PORT}"
            lines.append(f"Mail catcher SMTP server: {smtp} (any credentials, no TLS)")
            if not settings.DEBUG:
                lines.append("  Its pages are shown only with AUTOMMATE_DEBUG=1.")
        if listening != settings.BASE_URL:
            lines.append(f"Listening on {listening} (AUTOMMATE_BASE_URL is {settings.BASE_URL})")
        return "\n".join([*lines, ""])
