"""`autommate serve`: the web server, the task worker and, on request, the mail catcher."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from argparse import ArgumentParser, ArgumentTypeError
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from autommate.database_state import require_database_ready

logger = logging.getLogger("autommate.delivery.serve")

POLL_SECONDS = 0.2
RESTART_BACKOFF_MIN_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
# A child that ran this long before dying is restarted after the shortest backoff again.
STABLE_AFTER_SECONDS = 60.0
# The web server finishes open requests within its graceful timeout (10 s); this adds a margin.
STOP_TIMEOUT_SECONDS = 15.0


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
        code = Supervisor(children).run()
        if code:
            raise CommandError("The web server stopped; see the messages above.", returncode=code)

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


@dataclass
class Child:
    """A process the supervisor keeps running."""

    name: str
    argv: list[str]
    # An essential child's exit stops everything: a web server that cannot bind its port
    # would fail again on every restart.
    essential: bool = False
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_seconds: float = 0.0
    restart_at: float | None = None

    def start(self) -> None:
        # Each child gets its own process group so that Ctrl-C in a terminal reaches only the
        # supervisor, which then asks each child once to stop: a second signal makes the task
        # worker abandon the task it is running. The argument lists are built in this module
        # from sys.executable and fixed names.
        self.process = subprocess.Popen(self.argv, process_group=0)  # noqa: S603
        self.started_at = time.monotonic()
        self.restart_at = None

    def schedule_restart(self, now: float) -> float:
        if now - self.started_at >= STABLE_AFTER_SECONDS:
            self.backoff_seconds = RESTART_BACKOFF_MIN_SECONDS
        else:
            self.backoff_seconds = min(
                RESTART_BACKOFF_MAX_SECONDS,
                max(RESTART_BACKOFF_MIN_SECONDS, self.backoff_seconds * 2),
            )
        self.restart_at = now + self.backoff_seconds
        return self.backoff_seconds


@dataclass
class Supervisor:
    """Start children, restart those that die, and stop them all on SIGTERM, SIGINT or SIGHUP."""

    children: list[Child]
    stopping: bool = field(default=False, init=False)

    def run(self) -> int:
        """Supervise until a signal (return 0) or an essential child's exit (its code)."""
        previous = {
            signum: signal.signal(signum, self._request_stop)
            # SIGHUP too: children outside the terminal's process group would outlive a closed
            # terminal otherwise.
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        try:
            for child in self.children:
                child.start()
            while not self.stopping:
                code = self._check_children()
                if code is not None:
                    return code
                time.sleep(POLL_SECONDS)
            logger.info("Stopping.")
            return 0
        finally:
            self._stop_children()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _check_children(self) -> int | None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping:
                    child.start()
                    logger.info("Restarted the %s.", child.name)
                continue
            assert child.process is not None
            code = child.process.poll()
            if code is None or self.stopping:
                continue
            if child.essential:
                logger.error("The %s %s; stopping.", child.name, _how_it_ended(code))
                return code if code > 0 else 1
            delay = child.schedule_restart(now)
            logger.warning(
                "The %s %s unexpectedly; restarting in %.0f s.",
                child.name,
                _how_it_ended(code),
                delay,
            )
        return None

    def _stop_children(self) -> None:
        running = [
            child.process
            for child in self.children
            if child.process is not None and child.process.poll() is None
        ]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"was stopped by {signal.Signals(-code).name}"
        except ValueError:
            return f"was stopped by signal {-code}"
    return f"exited with code {code}"
