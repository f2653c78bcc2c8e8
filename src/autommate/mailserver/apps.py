from __future__ import annotations

from django.apps import AppConfig


class MailServerConfig(AppConfig):
    name = "autommate.mailserver"
    label = "mailserver"
    verbose_name = "Mail server"

    def ready(self) -> None:
        from autommate.delivery.failures import register_explainer
        from autommate.delivery.pacing import register_send_limits

        from . import (
            checks,  # noqa: F401 - registers the destination and key checks.
            receivers,  # noqa: F401 - keeps the settings through which mail was accepted.
        )
        from .explanations import mail_log_failure
        from .selectors import send_limits_get

        # Delivery sends through this app's mail backend and logs failures in its words, at the
        # pace of the send rate limit saved here.
        register_explainer(mail_log_failure)
        register_send_limits(send_limits_get)
