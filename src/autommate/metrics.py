"""The product's Prometheus metrics, counted where each event happens, served at `/metrics`.

Every process of an installation on one host (the web server's workers, the task workers, the
commands) writes its counts to files in `AUTOMMATE_METRICS_DIR` (prometheus-client's
multiprocess mode, switched on in settings before this module is imported), and `/metrics`
adds them up at scrape time. Labels carry outcomes and kinds from fixed lists: never an address,
a user, a token or any other value a request chooses.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from autommate.client_address import in_monitoring_network

__all__ = ["CONTENT_TYPE_LATEST"]

FORGOT_PASSWORD_REQUESTS = Counter(
    "autommate_forgot_password_requests",
    "Forgot-password requests, by outcome: accepted, rate_limited, feature_off.",
    ["outcome"],
)
RESET_LINKS = Counter(
    "autommate_reset_links",
    "Reset links by event: opened, used, expired, refused (unknown, used or voided).",
    ["event"],
)
SIGN_INS = Counter(
    "autommate_sign_ins",
    "Sign-ins with a password, by outcome: succeeded, failed, locked.",
    ["outcome"],
)
MAILS = Counter(
    "autommate_mails",
    "Mails by kind (reset, password_changed, test) and outcome: sent, retried, failed, dropped.",
    ["kind", "outcome"],
)
MAIL_DELIVERY_SECONDS = Histogram(
    "autommate_mail_delivery_seconds",
    "Seconds from the request that caused a mail to its acceptance by the mail server, by kind.",
    ["kind"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600),
)
OAUTH_TOKEN_REQUESTS = Counter(
    "autommate_oauth_token_requests",
    "Access token requests to the mail server's token endpoint, by outcome: issued, failed.",
    ["outcome"],
)
TEST_MAILS = Counter(
    "autommate_test_mails",
    "Test mails by outcome: accepted, failed, rate_limited.",
    ["outcome"],
)


def scrape_allowed(*, client_address: str, authorization: str | None) -> bool | None:
    """Say whether a request may read the metrics: True, or False for a wrong bearer token, or
    None for a client that is neither in `AUTOMMATE_MONITORING_NETWORKS` nor sent a token."""
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        expected = settings.METRICS_TOKEN
        if scheme.lower() == "bearer" and expected:
            return hmac.compare_digest(secret.strip().encode(), expected.encode())
        return in_monitoring_network(client_address) or False
    return True if in_monitoring_network(client_address) else None


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """Return the metrics of every process of this installation on this host, and `extra`'s."""
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        own = b""
    else:
        own = generate_latest(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return own + generate_latest(registry)
