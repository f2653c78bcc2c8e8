from __future__ import annotations

from django.apps import AppConfig


class RateLimitsConfig(AppConfig):
    name = "autommate.ratelimits"
    label = "ratelimits"
    verbose_name = "Rate limits"
