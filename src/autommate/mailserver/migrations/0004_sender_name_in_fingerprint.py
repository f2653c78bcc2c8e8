"""The fingerprint of verified settings covers the sender name; a confirmed delivery stays confirmed.

Every mail carries the sender name, and a name that no mail header can carry made every mail
fail while the settings still said verified. Settings whose delivery was confirmed keep their
confirmation under the new fingerprint, unless their sender name or email holds a line break or
control character: mail was never delivered with those, so they are unverified until a test
mail is confirmed again.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from autommate.header_text import first_unsafe_character
from autommate.mailserver.fingerprints import (
    released_secrets,
    released_values,
    settings_fingerprint,
)
from autommate.mailserver.secrets import UndecryptableSecret


def carry_confirmations_forward(apps: Any, schema_editor: Any) -> None:
    settings_model = apps.get_model("mailserver", "MailServerSettings")
    for row in settings_model.objects.exclude(verified_fingerprint=""):
        if first_unsafe_character(row.sender_name + row.sender_email) is not None:
            continue
        try:
            before = released_values(row, released_secrets(row))
        except UndecryptableSecret:
            continue  # Not verifiable now anyway: the secret must be entered again.
        if row.allow_insecure_login:
            before["allow_insecure_login"] = True
        if row.verified_fingerprint != settings_fingerprint(before):
            continue
        after = before | {"sender_name": row.sender_name.strip()}
        row.verified_fingerprint = settings_fingerprint(after)
        row.save(update_fields=["verified_fingerprint"])


class Migration(migrations.Migration):
    dependencies = [
        ("mailserver", "0003_allow_insecure_login"),
    ]

    operations = [
        migrations.RunPython(carry_confirmations_forward, migrations.RunPython.noop),
    ]
