from __future__ import annotations

from django.apps import AppConfig


class DevMailConfig(AppConfig):
    name = "autommate.devmail"
    label = "devmail"
    verbose_name = "Development mail catcher"
