from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "autommate.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Not at the top: the module imports models, which exist only once every app is loaded.
        from . import signin  # noqa: F401 - connects the sign-in audit receiver
