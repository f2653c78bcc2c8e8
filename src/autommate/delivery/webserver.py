"""The web server: gunicorn serving `autommate.wsgi`, configured in code.

`autommate serve` runs this module as a child process (`python -m autommate.delivery.webserver`)
rather than in its own process, because gunicorn's arbiter reaps every child of the process it
runs in, which would hide the task worker's and mail catcher's exits from the supervisor.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from autommate.redaction import redact_access_atoms

THREADS_PER_WORKER = 4
# Long enough for any request of this application to finish, short enough that stopping the
# service does not hang.
GRACEFUL_TIMEOUT_SECONDS = 10


class AccessLogger(Logger):
    """gunicorn's logger, with reset and confirmation link tokens redacted from access lines."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        return redact_access_atoms(dict(super().atoms(resp, req, environ, request_time)))


class WebServer(BaseApplication):
    """Serve the Django application with gthread workers, logging requests to stdout."""

    def __init__(self, *, bind: str, workers: int) -> None:
        self.options: dict[str, Any] = {
            "bind": [bind],
            "workers": workers,
            "worker_class": "gthread",
            "threads": THREADS_PER_WORKER,
            "accesslog": "-",
            "logger_class": "autommate.delivery.webserver.AccessLogger",
            "errorlog": "-",
            "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
            "proc_name": "autommate-web",
            # The control socket defaults to one path per user, so two installations (or a
            # test run beside a development server) would fight over it; nothing here uses it.
            "control_socket_disable": True,
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            if name in self.cfg.settings:
                self.cfg.set(name, value)

    def load(self) -> Any:
        # Not at the top: importing it sets Django up, which belongs in each worker, not in the
        # arbiter, which imports this module too (for AccessLogger).
        from autommate.wsgi import application

        return application


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Autom Mate with gunicorn.")
    parser.add_argument("--bind", required=True, help="HOST:PORT to listen on")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autommate.settings")
    WebServer(bind=args.bind, workers=args.workers).run()


if __name__ == "__main__":
    main()
