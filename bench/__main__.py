"""`python -m bench`: run the forgot-password benchmark and print its table."""

from __future__ import annotations

import argparse

from bench.forgot_password import Plan, run


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
    args = parser.parse_args()
    plan = Plan.quick() if args.quick else Plan.full()
    plan.clients = args.clients
    run(plan)


if __name__ == "__main__":
    main()
