"""Allow login without TLS, off by default; settings that log in without TLS keep working.

A login over a connection without TLS sends the password (or the access token) in clear, and is
now refused unless the administrator allows it. Settings saved before, that log in over SMTP with
Enable TLS off, were working that way: they get the permission, and a delivery confirmed for
them stays confirmed.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from autommate.mailserver.fingerprints import (
    released_secrets,
    released_values,
    settings_fingerprint,
)
from autommate.mailserver.secrets import UndecryptableSecret


def allow_where_logging_in_without_tls(apps: Any, schema_editor: Any) -> None:
    settings_model = apps.get_model("mailserver", "MailServerSettings")
    for row in settings_model.objects.filter(use_auth=True, protocol="smtp", use_tls=False):
        update = ["allow_insecure_login"]
        try:
            before = released_values(row, released_secrets(row))
        except UndecryptableSecret:
            before = None  # Not verifiable now anyway: the secret must be entered again.
        if before is not None and row.verified_fingerprint == settings_fingerprint(before):
            row.verified_fingerprint = settings_fingerprint(before | {"allow_insecure_login": True})
            update.append("verified_fingerprint")
        row.allow_insecure_login = True
        row.save(update_fields=update)


class Migration(migrations.Migration):
    dependencies = [
        ("mailserver", "0002_oauth_login"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailserversettings",
            name="allow_insecure_login",
            field=models.BooleanField(default=False, verbose_name="Allow login without TLS"),
        ),
        migrations.RunPython(allow_where_logging_in_without_tls, migrations.RunPython.noop),
    ]
