"""Settings for the test suite: production settings, with test-only secrets and limits."""

from __future__ import annotations

import os
import tempfile

from tests.destinations import LOOPBACK_DESTINATIONS
from tests.metrics_directory import metrics_directory_of_this_process

# A checkout's development `.env` (written by `make run`) must not change the suite's settings.
os.environ.setdefault("AUTOMMATE_ENV_FILE", os.devnull)
# The suite's metrics (and those of the processes it starts) in a directory of its own.
# With pytest-xdist, each worker process keeps its own below it: counters moved by one worker's
# tests must not show in another's.
os.environ["AUTOMMATE_METRICS_DIR"] = metrics_directory_of_this_process(
    os.environ.get("AUTOMMATE_METRICS_DIR") or tempfile.mkdtemp(prefix="autommate-test-metrics-")
)
os.environ.setdefault("AUTOMMATE_SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("AUTOMMATE_DEBUG", "0")
os.environ.setdefault("AUTOMMATE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# The suite's mail servers and token endpoints listen on this machine, as a local relay would:
# allowed the way an operator allows one. Tests of refusals set the list they need.
os.environ.setdefault("AUTOMMATE_MAIL_ALLOWED_DESTINATIONS", LOOPBACK_DESTINATIONS)

from autommate.settings import *  # noqa: F403
from autommate.settings import DATABASES, VAR_DIR

# Fast hashing keeps the suite quick; the production hasher is Django's default.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "autommate.sqlite3":
    # One file per test run, so concurrent runs on one machine never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
