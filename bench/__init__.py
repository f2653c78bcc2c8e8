"""Benchmarks, run by hand or by `make bench` (never by CI).

`python -m bench` measures the forgot-password request under gunicorn against a mail server that
takes 1 s per message, the delivery of queued mail by the worker, and Django's stock
PasswordResetView on the same server as the baseline; `python -m bench --quick` does less of each.
"""

from __future__ import annotations
