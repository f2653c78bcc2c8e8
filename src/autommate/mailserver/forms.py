from __future__ import annotations

import re
from typing import Any

from cryptography import x509
from django import forms

from .models import EDITABLE_FIELDS, MailServerSettings, Protocol
from .presets import PRESETS

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)
_IPV6 = re.compile(r"^\[?[0-9A-Fa-f:.]+\]?$")
CA_CERTIFICATE_MAX_CHARS = 64 * 1024


def _no_line_breaks(value: str, label: str) -> None:
    if "\r" in value or "\n" in value:
        raise forms.ValidationError(f"{label} must be on one line.", code="line_break")


class MailServerForm(forms.ModelForm):
    """The mail server settings as typed; the checks that need no network."""

    preset = forms.ChoiceField(
        label="Preset",
        required=False,
        choices=[("", "Choose a provider to fill in the form…")]
        + [(p.key, p.label) for p in PRESETS],
        help_text="Fills in the server name, port and TLS choices of a common provider.",
    )
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = MailServerSettings
        fields = EDITABLE_FIELDS
        widgets = {
            "host": forms.TextInput(
                attrs={"placeholder": "smtp.example.org", "spellcheck": "false"}
            ),
            "port": forms.NumberInput(attrs={"min": 1, "max": 65535}),
            "protocol": forms.Select(choices=Protocol.choices),
            "ca_certificate": forms.Textarea(
                attrs={
                    "rows": 4,
                    "placeholder": "-----BEGIN CERTIFICATE-----",
                    "spellcheck": "false",
                }
            ),
        }
        help_texts = {
            "port": "587 for SMTP with TLS (STARTTLS), 465 for SMTPS, 25 for a local relay.",
            "protocol": "SMTPS encrypts from the first byte (usually port 465); SMTP starts "
            "in plain text and can switch to TLS.",
            "use_tls": "Switch to TLS with STARTTLS before logging in (SMTP only). The server's "
            "certificate is always verified.",
            "ca_certificate": "Optional. The PEM certificate of a private certificate authority "
            "that signed the mail server's certificate.",
        }

    def __init__(self, *args: Any, saved: MailServerSettings | None = None, **kwargs: Any) -> None:
        self.saved = saved
        super().__init__(*args, **kwargs)
        self.fields["host"].required = True
        self.fields["sender_email"].required = True
        self.fields["sender_name"].required = True
        if saved is not None and saved.has_password:
            self.fields[
                "password"
            ].help_text = "A password is saved. Leave this empty to keep it; it is never shown."
        else:
            self.fields["password"].help_text = "No password is saved."

    def clean_host(self) -> str:
        host = str(self.cleaned_data["host"]).strip()
        if "://" in host or "/" in host or " " in host:
            raise forms.ValidationError(
                "Enter only the server name, such as smtp.example.org, without smtp:// or a path.",
                code="invalid_host",
            )
        if not (_HOSTNAME.match(host) or _IPV6.match(host)):
            raise forms.ValidationError(
                "Enter a valid server name or IP address.", code="invalid_host"
            )
        return host.strip("[]")

    def clean_port(self) -> int:
        port = int(self.cleaned_data["port"])
        if not 1 <= port <= 65535:
            raise forms.ValidationError("Enter a port from 1 to 65535.", code="invalid_port")
        return port

    def clean_sender_name(self) -> str:
        name = str(self.cleaned_data["sender_name"]).strip()
        _no_line_breaks(name, "The sender name")
        return name

    def clean_sender_email(self) -> str:
        address = str(self.cleaned_data["sender_email"]).strip()
        _no_line_breaks(address, "The sender email")
        return address

    def clean_username(self) -> str:
        username = str(self.cleaned_data.get("username", "")).strip()
        _no_line_breaks(username, "The username")
        return username

    def clean_ca_certificate(self) -> str:
        pem = str(self.cleaned_data.get("ca_certificate", "")).strip()
        if not pem:
            return ""
        if len(pem) > CA_CERTIFICATE_MAX_CHARS:
            raise forms.ValidationError(
                "The CA certificate is too large (at most 64 KB).", code="too_large"
            )
        try:
            x509.load_pem_x509_certificates(pem.encode())
        except ValueError:
            raise forms.ValidationError(
                "This is not a PEM certificate. Paste the text from -----BEGIN CERTIFICATE----- "
                "to -----END CERTIFICATE-----.",
                code="invalid_ca",
            ) from None
        return pem

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        protocol = cleaned.get("protocol")
        port = cleaned.get("port")
        if protocol == Protocol.SMTPS and cleaned.get("use_tls"):
            self.add_error(
                "use_tls",
                "SMTPS already encrypts the whole connection, so Enable TLS (STARTTLS) cannot be "
                "used with it. Turn off Enable TLS, or choose SMTP to use STARTTLS.",
            )
        if protocol == Protocol.SMTPS and port in (25, 587):
            self.add_error(
                "port",
                f"Port {port} expects SMTP, which starts in plain text. Use port 465 for SMTPS, "
                "or choose SMTP with Enable TLS.",
            )
        if protocol == Protocol.SMTP and port == 465:
            self.add_error(
                "port",
                "Port 465 expects SMTPS (TLS from the first byte). Choose SMTPS, or use port 587 "
                "with Enable TLS.",
            )
        if cleaned.get("use_auth") and not cleaned.get("username"):
            self.add_error("username", "Enter the username the mail server expects.")
        return cleaned


class TestMailForm(forms.Form):
    test_recipient = forms.EmailField(
        label="Test recipient",
        max_length=254,
        help_text="A mailbox you can read: the test mail carries a code to confirm delivery.",
    )

    def clean_test_recipient(self) -> str:
        address = str(self.cleaned_data["test_recipient"]).strip()
        _no_line_breaks(address, "The test recipient")
        return address


class ConfirmDeliveryForm(forms.Form):
    code = forms.CharField(
        label="Confirmation code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )
