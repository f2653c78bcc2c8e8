"""The cost of metrics: a counter increment in multiprocess mode, and a `/metrics` scrape as
the metrics directory fills with the files of many processes (workers restarted, commands run).

Each simulated process writes the product's counters and histogram under its own process id, as
a real one would; the scrape is `autommate.metrics.exposition`, what `/metrics` serves besides the
queue gauges (which are one database query).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class MetricsPlan:
    increments: int = 200_000
    process_counts: list[int] = field(default_factory=lambda: [1, 10, 100, 500])
    scrapes: int = 5

    @classmethod
    def quick(cls) -> MetricsPlan:
        return cls(increments=20_000, process_counts=[1, 10, 100], scrapes=3)


def run_metrics(plan: MetricsPlan) -> None:
    with tempfile.TemporaryDirectory(prefix="autommate-bench-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        from prometheus_client import values

        from autommate import metrics

        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        counter = metrics.MAILS.labels(kind="reset", outcome="sent")
        started = time.perf_counter()
        for _ in range(plan.increments):
            counter.inc()
        per_increment = (time.perf_counter() - started) / plan.increments

        print("\nMetrics (prometheus-client, multiprocess mode)")
        print(f"  counter increment: {per_increment * 1e6:.2f} µs ({plan.increments} increments)")
        print(f"  {'processes':>10} {'files':>6} {'scrape median ms':>17} {'bytes':>7}")
        written = 1
        for count in plan.process_counts:
            for pid in range(written, count):
                _write_as_process(metrics, values, pid)
            written = max(written, count)
            timings = []
            for _ in range(plan.scrapes):
                started = time.perf_counter()
                body = metrics.exposition()
                timings.append(time.perf_counter() - started)
            files = len(os.listdir(directory))
            median_ms = statistics.median(timings) * 1000
            print(f"  {count:>10} {files:>6} {median_ms:>17.1f} {len(body):>7}")


def _write_as_process(metrics, values, pid: int) -> None:
    """Count one of every series as process `pid` would, into that process's own files."""
    from prometheus_client import Counter, Histogram

    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: pid)
    for parent in (
        metrics.FORGOT_PASSWORD_REQUESTS,
        metrics.RESET_LINKS,
        metrics.SIGN_INS,
        metrics.MAILS,
        metrics.OAUTH_TOKEN_REQUESTS,
        metrics.TEST_MAILS,
    ):
        twin = Counter(parent._name, parent._documentation, parent._labelnames, registry=None)
        twin.labels(*["x"] * len(parent._labelnames)).inc()
    latency = metrics.MAIL_DELIVERY_SECONDS
    Histogram(
        latency._name,
        latency._documentation,
        latency._labelnames,
        buckets=latency._upper_bounds,
        registry=None,
    ).labels(kind="reset").observe(3.0)
