"""The supervisor of `autommate serve`: start its children, restart those that die, stop them all.

`autommate serve` checks the configuration and the database with Django, then replaces itself
(same process id) with this module, which loads neither Django nor the application: the
supervisor only waits on its children, and should cost no more memory than that.
`python -m autommate.delivery.supervisor CHILDREN_JSON` takes a list of children, each
`{"name": …, "argv": […], "essential": true|false}`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

logger = logging.getLogger("autommate.delivery.serve")

POLL_SECONDS = 0.2
RESTART_BACKOFF_MIN_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
# A child that ran this long before dying is restarted after the shortest backoff again.
STABLE_AFTER_SECONDS = 60.0
# The web server finishes open requests within its graceful timeout (10 s); this adds a margin.
STOP_TIMEOUT_SECONDS = 15.0
STOPPED_MESSAGE = "The web server stopped; see the messages above."


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


def exec_supervisor(children: list[Child]) -> None:
    """Replace this process with the supervisor of `children`; never return."""
    spec = [
        {"name": child.name, "argv": child.argv, "essential": child.essential} for child in children
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    python = sys.executable
    os.execv(python, [python, "-m", __name__, json.dumps(spec)])  # noqa: S606


def _configure_logging() -> None:
    """Write the supervisor's lines as the other processes do, without Django's settings."""
    from autommate.logs import RequestIdFilter, formatter
    from autommate.redaction import RedactSecretsFilter

    handler = logging.StreamHandler()
    handler.setFormatter(formatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("autommate").setLevel(os.environ.get("AUTOMMATE_LOG_LEVEL", "INFO"))


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    _configure_logging()
    children = [
        Child(spec["name"], list(spec["argv"]), essential=bool(spec["essential"]))
        for spec in json.loads(arguments[0])
    ]
    code = Supervisor(children).run()
    if code:
        # As `autommate serve` ends on any other error: one line, and the child's status.
        sys.stderr.write(f"CommandError: {STOPPED_MESSAGE}\n")
        sys.exit(code)


if __name__ == "__main__":
    main()
