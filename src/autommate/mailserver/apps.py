from __future__ import annotations

from django.apps import AppConfig


class MailServerConfig(AppConfig):
    name = "autommate.mailserver"
    label = "mailserver"
    verbose_name = "Mail server"
