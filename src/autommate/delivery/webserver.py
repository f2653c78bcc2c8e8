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

from autommate.logs import JsonFormatter, log_format
from autommate.redaction import redact_access_atoms

THREADS_PER_WORKER = 4
# Long enough for any request of this application to finish, short enough that stopping the
# service does not hang.
GRACEFUL_TIMEOUT_SECONDS = 10


# gunicorn's default access line, with the request id the application answered with.
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" request_id=%({x-request-id}o)s'
)


class AccessLogger(Logger):
    """gunicorn's logger: link tokens redacted from access lines, JSON lines on request.

    With `AUTOMMATE_LOG_FORMAT=json` its own lines and the access lines are JSON objects as the
    application's are, an access line with the request's fields (and its request id).
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if log_format() == "json":
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        return redact_access_atoms(dict(super().atoms(resp, req, environ, request_time)))

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if log_format() != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_log.info(
            '"%s" %s',
            atoms.get("r", ""),
            atoms.get("s", ""),
            extra={
                "request_id": _header(resp, "x-request-id"),
                "remote_addr": atoms.get("h"),
                "method": atoms.get("m"),
                "path": atoms.get("U"),
                "query": atoms.get("q"),
                "status": _int(atoms.get("s")),
                "bytes": _int(atoms.get("B")),
                "duration_ms": _int(atoms.get("M")),
                "referer": atoms.get("f"),
                "user_agent": atoms.get("a"),
            },
        )


def _header(resp: Any, name: str) -> str | None:
    for key, value in getattr(resp, "headers", None) or []:
        if str(key).lower() == name:
            return str(value)
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class WebServer(BaseApplication):
    """Serve the Django application with gthread workers, logging requests to stdout."""

    def __init__(self, *, bind: str, workers: int) -> None:
        self.options: dict[str, Any] = {
            "bind": [bind],
            "workers": workers,
            "worker_class": "gthread",
            "threads": THREADS_PER_WORKER,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
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
