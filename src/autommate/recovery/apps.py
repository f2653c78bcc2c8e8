from __future__ import annotations

from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "autommate.recovery"
    label = "recovery"
    verbose_name = "Forgot Password"

    def ready(self) -> None:
        # Not at the top: these modules import models, which exist only once every app is loaded.
        from . import (
            alerts,  # noqa: F401 - registers the alert's composer and its receiver
            emails,  # noqa: F401 - registers the composers of the account mails
            periodic,  # noqa: F401 - registers the sweep for invitations that expired unused
            receivers,  # noqa: F401 - voids reset links when accounts announce a change
        )
