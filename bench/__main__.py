"""`python -m bench`: the forgot-password, OAuth 2.0, delivery, memory and metrics benchmarks."""

from __future__ import annotations

import argparse

from bench.delivery import DeliveryPlan, run_delivery
from bench.forgot_password import Plan, run
from bench.memory import run_memory
from bench.metrics import MetricsPlan, run_metrics
from bench.oauth import OAuthPlan, run_oauth


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer requests and mails: a smoke run in about a minute",
    )
    parser.add_argument(
        "--clients", type=int, default=16, help="concurrent HTTP clients (default 16)"
    )
    parser.add_argument(
        "--only",
        choices=["forgot-password", "oauth", "delivery", "memory", "metrics"],
        help="run one benchmark: the forgot-password request path and delivery, or OAuth 2.0 "
        "logins (token requests per mail, a slow token endpoint), or delivery speed with "
        "parallel connections, or the RSS and PSS of each process of `autommate serve`, or "
        "the cost of metrics "
        "(an increment, a scrape as processes accumulate)",
    )
    args = parser.parse_args()
    if args.only in (None, "forgot-password"):
        plan = Plan.quick() if args.quick else Plan.full()
        plan.clients = args.clients
        run(plan)
    if args.only in (None, "oauth"):
        run_oauth(OAuthPlan.quick() if args.quick else OAuthPlan())
    if args.only in (None, "delivery"):
        run_delivery(DeliveryPlan.quick() if args.quick else DeliveryPlan())
    if args.only in (None, "memory"):
        run_memory()
    if args.only in (None, "metrics"):
        run_metrics(MetricsPlan.quick() if args.quick else MetricsPlan())


if __name__ == "__main__":
    main()
