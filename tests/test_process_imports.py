"""What the production processes import: no test or development code, heavy libraries late.

Each process runs as in production, in its own interpreter with the product's settings, and
reports the modules it holds: a web worker after serving pages (then after an API request), the
task worker after a run, and the supervisor of `autommate serve`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.delivery.test_serve import autommate, environment, free_port
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.slow

# Test and development tools that are installed beside the product but must never run in it.
DEVELOPMENT_MODULES = {
    "_pytest",
    "aiosmtpd",
    "axe_playwright_python",
    "hypothesis",
    "importlinter",
    "mypy",
    "mypy_django_plugin",
    "playwright",
    "pytest",
    "pytest_django",
    "schemathesis",
    "trustme",
    "unittest",
    "xdist",
}
# Imported where they are used, not by every process (each costs several MiB).
API_MODULES = {"ninja", "pydantic", "pydantic_core"}
SECRET_MODULES = {"cryptography", "jwt"}

WEB_WORKER = """
import json, os, sys
from io import BytesIO
from wsgiref.util import setup_testing_defaults

from autommate.wsgi import application


def get(path, **headers):
    environ = {"PATH_INFO": path, "wsgi.input": BytesIO(), **headers}
    setup_testing_defaults(environ)
    environ["HTTP_HOST"] = "127.0.0.1"
    answered = []
    body = b"".join(application(environ, lambda status, headers: answered.append(status)))
    return answered[0]


loaded = {}
pages = ("/login/", "/healthz", "/forgot-password/", "/reset-password/x/")
statuses = [get(path) for path in pages]
loaded["pages"] = sorted({name.split(".")[0] for name in sys.modules})
from django.urls import reverse

statuses.append(reverse("api-v1:openapi-json"))
statuses.append(get("/api/v1/openapi.json"))
loaded["api"] = sorted({name.split(".")[0] for name in sys.modules})
loaded["django"] = sorted(name for name in sys.modules if name.startswith("django."))
print(json.dumps({"statuses": statuses, "modules": loaded}))
"""

TASK_WORKER = """
import json, sys

from autommate.command_line import main

main(["worker", "--batch"])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""

# Settings without a login, verified by a test mail (which keeps them as the last that worked),
# and one mail queued for the task worker.
QUEUE_MAIL = """
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autommate.settings")
django.setup()
from django.utils import timezone

from autommate.accounts.models import User
from autommate.delivery import services
from autommate.delivery.models import Kind
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.services import last_working_keep

mail_server = MailServerSettings(
    pk=1, host="{host}", port={port}, protocol="smtp", use_tls=False,
    sender_name="Autom Mate", sender_email="noreply@example.org",
)
mail_server.verified_fingerprint = mail_server.fingerprint()
mail_server.save()
last_working_keep(sent_through=mail_server.verified_fingerprint)
user = User.objects.create_user("mike@example.org", "correct horse battery staple 9")
services.message_record(
    kind=Kind.PASSWORD_CHANGED,
    recipient=user.email,
    user=user,
    context={{"changed_at": timezone.now().isoformat(), "client_address": "192.0.2.1"}},
)
print("[]")
"""

SUPERVISOR = """
import json, sys

import autommate.delivery.supervisor as supervisor

supervisor._configure_logging()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    var_dir = tmp_path_factory.mktemp("var")
    env = environment(
        var_dir, AUTOMMATE_DEBUG="0", AUTOMMATE_SECRET_KEY="imports-test-secret-key-" * 3
    )
    done = autommate("migrate", "--noinput", env=env)
    assert done.returncode == 0, done.stderr
    return env


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _run(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=env["AUTOMMATE_VAR_DIR"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_web_worker_serves_pages_without_development_code_or_the_api(
    installation: dict[str, str],
) -> None:
    report = json.loads(_run(WEB_WORKER, installation))

    assert report["statuses"][:2] == ["200 OK", "200 OK"]
    pages, api = set(report["modules"]["pages"]), set(report["modules"]["api"])
    assert not pages & DEVELOPMENT_MODULES
    assert not pages & (API_MODULES | SECRET_MODULES)
    # Reversing into the API, or its first request, loads it, and it answers as it always did.
    assert report["statuses"][4:] == ["/api/v1/openapi.json", "200 OK"]
    assert api >= API_MODULES
    assert not api & DEVELOPMENT_MODULES
    # django-ninja listens to a signal of Django's test framework, not loaded for it.
    assert "django.test" not in report["modules"]["django"]
    assert not {name for name in report["modules"]["django"] if name.startswith("django.test.")} - {
        "django.test.signals"
    }


def test_task_worker_runs_without_development_code_or_the_api(
    installation: dict[str, str],
) -> None:
    modules = set(json.loads(_run(TASK_WORKER, installation)))

    assert "django_tasks_db" in modules
    assert not modules & DEVELOPMENT_MODULES
    assert not modules & (API_MODULES | SECRET_MODULES)


def test_task_worker_sends_mail_without_a_login_without_the_secret_libraries(
    installation: dict[str, str],
) -> None:
    server = SMTPTestServer().start()
    try:
        env = installation | {"AUTOMMATE_MAIL_ALLOWED_DESTINATIONS": f"{server.host}:{server.port}"}
        _run(QUEUE_MAIL.format(host=server.host, port=server.port), env)
        modules = set(json.loads(_run(TASK_WORKER, env)))
        [message] = server.wait_for(1)
    finally:
        server.stop()

    assert message["To"] == "mike@example.org"
    # Nothing to decrypt for the login, and the settings were kept when they were verified.
    assert not modules & (API_MODULES | SECRET_MODULES)


def test_serve_supervises_from_an_interpreter_without_django(
    installation: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "autommate", "serve", "--port", str(port), "--workers", "1"],
        env={name: value for name, value in installation.items() if name != "MALLOC_ARENA_MAX"},
        cwd=installation["AUTOMMATE_VAR_DIR"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not answer"
            time.sleep(0.1)
        command = Path(f"/proc/{server.pid}/cmdline").read_text().split("\0")
        environ = Path(f"/proc/{server.pid}/environ").read_text().split("\0")
    finally:
        server.terminate()
        server.wait(30)
    # Same process, a fresh interpreter running the supervisor, which loads no Django.
    modules = set(json.loads(_run(SUPERVISOR, installation)))

    assert server.returncode == 0, (tmp_path / "serve.log").read_text()
    assert command[1:3] == ["-m", "autommate.delivery.supervisor"]
    # Passed on to every child: two malloc arenas rather than one per thread.
    assert "MALLOC_ARENA_MAX=2" in environ
    assert not modules & ({"django", "gunicorn"} | DEVELOPMENT_MODULES)
