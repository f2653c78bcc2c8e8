from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from autommate.header_text import check_header_text

from .models import (
    EDITABLE_FIELDS,
    MAX_CONNECTIONS_LIMIT,
    SEND_RATE_MAX_PER_MINUTE,
    AuthMethod,
    MailServerSettings,
    Protocol,
)
from .presets import MICROSOFT_SCOPE, MICROSOFT_TOKEN_URL, PRESETS
from .tokens import (
    ClientCertificate,
    InvalidCredential,
    InvalidTokenURL,
    ServiceAccountKey,
    check_token_url,
)

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)
_IPV6 = re.compile(r"^\[?[0-9A-Fa-f:.]+\]?$")
CA_CERTIFICATE_MAX_CHARS = 64 * 1024
CREDENTIAL_MAX_CHARS = 64 * 1024
SECRET_HELP = {
    "password": (
        gettext_lazy("A password is saved. Leave this empty to keep it; it is never shown."),
        gettext_lazy("No password is saved."),
    ),
    "client_secret": (
        gettext_lazy("A client secret is saved. Leave this empty to keep it; it is never shown."),
        gettext_lazy(
            "The secret's value (not its ID). Leave empty when you use a client certificate."
        ),
    ),
    "client_certificate": (
        gettext_lazy(
            "A client certificate is saved. Leave this empty to keep it; it is never shown."
        ),
        gettext_lazy(
            "Instead of a client secret: the PEM private key (RSA) followed by its certificate, "
            "whose public part is uploaded to the application."
        ),
    ),
    "service_account_key": (
        gettext_lazy(
            "A service account key is saved. Leave this empty to keep it; it is never shown."
        ),
        gettext_lazy("The JSON key file of the service account, pasted or uploaded."),
    ),
}


# The fields of each authentication method. Without JavaScript the page shows them all, so what
# was typed into the fields of the methods not chosen is dropped, errors and all.
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    AuthMethod.PASSWORD: ("password",),
    AuthMethod.OAUTH2: ("token_url", "client_id", "client_secret", "client_certificate", "scope"),
    AuthMethod.GOOGLE_SERVICE_ACCOUNT: ("service_account_key", "service_account_key_file"),
}


class WriteOnlyTextarea(forms.Textarea):
    """A textarea for a secret: what was typed or saved is never rendered back."""

    def format_value(self, value: Any) -> str | None:
        return None


class MailServerForm(forms.ModelForm):
    """The mail server settings as typed; the checks that need no network."""

    preset = forms.ChoiceField(
        # Translators: a ready-made set of settings for a common mail provider.
        label=gettext_lazy("Preset"),
        required=False,
        choices=[("", gettext_lazy("Choose a provider to fill in the form…"))]
        + [(p.key, p.label) for p in PRESETS],
        help_text=gettext_lazy(
            "Fills in the server name, port and TLS choices of a common provider."
        ),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        required=False,
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    client_secret = forms.CharField(
        label=gettext_lazy("Client secret"),
        required=False,
        max_length=1024,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    client_certificate = forms.CharField(
        label=gettext_lazy("Client certificate"),
        required=False,
        max_length=CREDENTIAL_MAX_CHARS,
        widget=WriteOnlyTextarea(
            attrs={
                "rows": 4,
                "placeholder": "-----BEGIN PRIVATE KEY-----",
                "spellcheck": "false",
                "autocomplete": "off",
            }
        ),
    )
    service_account_key = forms.CharField(
        label=gettext_lazy("Service account key"),
        required=False,
        max_length=CREDENTIAL_MAX_CHARS,
        widget=WriteOnlyTextarea(
            attrs={
                "rows": 4,
                "placeholder": '{"type": "service_account", …}',
                "spellcheck": "false",
                "autocomplete": "off",
            }
        ),
    )
    service_account_key_file = forms.FileField(
        label=gettext_lazy("Service account key file"),
        required=False,
        help_text=gettext_lazy("Or upload the JSON key file instead of pasting it."),
        widget=forms.FileInput(attrs={"accept": ".json,application/json"}),
    )

    class Meta:
        model = MailServerSettings
        fields = EDITABLE_FIELDS
        widgets = {
            "host": forms.TextInput(
                attrs={"placeholder": "smtp.example.org", "spellcheck": "false"}
            ),
            "port": forms.NumberInput(attrs={"min": 1, "max": 65535}),
            "send_rate_per_minute": forms.NumberInput(
                attrs={"min": 1, "max": SEND_RATE_MAX_PER_MINUTE, "placeholder": "No limit"}
            ),
            "max_connections": forms.NumberInput(attrs={"min": 1, "max": MAX_CONNECTIONS_LIMIT}),
            "protocol": forms.Select(choices=Protocol.choices),
            "token_url": forms.URLInput(
                attrs={
                    "placeholder": MICROSOFT_TOKEN_URL,
                    "spellcheck": "false",
                }
            ),
            "client_id": forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
            "scope": forms.TextInput(
                attrs={
                    "placeholder": MICROSOFT_SCOPE,
                    "spellcheck": "false",
                }
            ),
            "ca_certificate": forms.Textarea(
                attrs={
                    "rows": 4,
                    "placeholder": "-----BEGIN CERTIFICATE-----",
                    "spellcheck": "false",
                }
            ),
        }
        help_texts = {
            "port": gettext_lazy(
                "587 for SMTP with TLS (STARTTLS), 465 for SMTPS, 25 for a local relay."
            ),
            "protocol": gettext_lazy(
                "SMTPS encrypts from the first byte (usually port 465); SMTP starts in plain text "
                "and can switch to TLS."
            ),
            "use_tls": gettext_lazy(
                "Switch to TLS with STARTTLS before logging in (SMTP only). The server's "
                "certificate is always verified."
            ),
            "ca_certificate": gettext_lazy(
                "Optional. The PEM certificate of a private certificate authority that signed the "
                "mail server's certificate (or the token URL's)."
            ),
            "auth_method": gettext_lazy(
                "Password for most servers; OAuth 2.0 for Microsoft 365 and other providers that "
                "take no passwords; Google service account for Google Workspace."
            ),
            "username": gettext_lazy(
                "Password: the username the mail server expects. OAuth 2.0: the mailbox that "
                "sends. Google service account: the Workspace user it sends as."
            ),
            "allow_insecure_login": gettext_lazy(
                "Warning: without TLS the password (or access token) crosses the network as plain "
                "text. Only for a server that offers no TLS on a network you trust, such as a "
                "relay on this machine; ignored while TLS is used."
            ),
            "client_id": gettext_lazy(
                "The application's client ID (Microsoft: Application (client) ID)."
            ),
            "scope": f"Microsoft 365: {MICROSOFT_SCOPE}",
        }

    def __init__(self, *args: Any, saved: MailServerSettings | None = None, **kwargs: Any) -> None:
        self.saved = saved
        super().__init__(*args, **kwargs)
        self.fields["host"].required = True
        self.fields["sender_email"].required = True
        self.fields["sender_name"].required = True
        self.fields["auth_method"].required = False
        # No placeholder with the default: an address there would read as the page showing
        # where names lead, which it never does.
        self.fields["ehlo_name"].widget.attrs.update({"spellcheck": "false", "autocomplete": "off"})
        # Help texts are HTML; format_html keeps <tenant> from becoming a tag.
        self.fields["token_url"].help_text = format_html(
            _(
                "Where access tokens come from (https only). Microsoft 365: {url} with your "
                "tenant ID or domain."
            ),
            url=MICROSOFT_TOKEN_URL,
        )
        # One message for any number out of range, negative ones included (the model field's
        # own bound would say "greater than or equal to 0").
        for name in ("send_rate_per_minute", "max_connections"):
            self.fields[name].validators = []
        for name, (kept, empty) in SECRET_HELP.items():
            stored = saved is not None and saved.use_auth and saved.has_secret(name)
            self.fields[name].help_text = kept if stored else empty

    def clean_host(self) -> str:
        host = str(self.cleaned_data["host"]).strip()
        if "://" in host or "/" in host or " " in host:
            raise forms.ValidationError(
                _(
                    "Enter only the server name, such as smtp.example.org, without smtp:// or a "
                    "path."
                ),
                code="invalid_host",
            )
        if not (_HOSTNAME.match(host) or _IPV6.match(host)):
            raise forms.ValidationError(
                _("Enter a valid server name or IP address."), code="invalid_host"
            )
        return host.strip("[]")

    def clean_port(self) -> int:
        port = int(self.cleaned_data["port"])
        if not 1 <= port <= 65535:
            raise forms.ValidationError(_("Enter a port from 1 to 65535."), code="invalid_port")
        return port

    def clean_send_rate_per_minute(self) -> int | None:
        rate = self.cleaned_data.get("send_rate_per_minute")
        if rate is not None and not 1 <= rate <= SEND_RATE_MAX_PER_MINUTE:
            raise forms.ValidationError(
                _("Enter a number of messages per minute from 1 to 10,000, or leave it empty."),
                code="invalid_send_rate",
            )
        return rate if rate is None else int(rate)

    def clean_max_connections(self) -> int | None:
        connections = self.cleaned_data.get("max_connections")
        if connections is not None and not 1 <= connections <= MAX_CONNECTIONS_LIMIT:
            raise forms.ValidationError(
                _("Enter a number of connections from 1 to 20, or leave it empty."),
                code="invalid_max_connections",
            )
        return connections if connections is None else int(connections)

    def clean_sender_name(self) -> str:
        name = str(self.cleaned_data["sender_name"]).strip()
        check_header_text(name, _("The sender name"))
        return name

    def clean_sender_email(self) -> str:
        address = str(self.cleaned_data["sender_email"]).strip()
        check_header_text(address, _("The sender email"))
        return address

    def clean_username(self) -> str:
        username = str(self.cleaned_data.get("username", "")).strip()
        check_header_text(username, _("The username"))
        return username

    def clean_auth_method(self) -> str:
        return str(self.cleaned_data.get("auth_method") or AuthMethod.PASSWORD)

    def clean_token_url(self) -> str:
        url = str(self.cleaned_data.get("token_url", "")).strip()
        if url:
            check_header_text(url, _("The token URL"))
            try:
                check_token_url(url)
            except InvalidTokenURL as error:
                raise forms.ValidationError(str(error), code="invalid_token_url") from None
        return url

    def clean_client_id(self) -> str:
        client_id = str(self.cleaned_data.get("client_id", "")).strip()
        check_header_text(client_id, _("The client ID"))
        return client_id

    def clean_scope(self) -> str:
        scope = " ".join(str(self.cleaned_data.get("scope", "")).split())
        return scope

    def clean_client_secret(self) -> str:
        secret = str(self.cleaned_data.get("client_secret", "")).strip()
        check_header_text(secret, _("The client secret"))
        return secret

    def clean_client_certificate(self) -> str:
        pem = str(self.cleaned_data.get("client_certificate", "")).strip()
        if pem:
            try:
                ClientCertificate.parse(pem)
            except InvalidCredential as error:
                raise forms.ValidationError(str(error), code="invalid_credential") from None
        return pem

    def clean_service_account_key(self) -> str:
        text = str(self.cleaned_data.get("service_account_key", "")).strip()
        upload = self.files.get("service_account_key_file") if self.files else None
        if upload is not None and not text:
            if upload.size is not None and upload.size > CREDENTIAL_MAX_CHARS:
                raise forms.ValidationError(
                    _("The service account key file is too large (at most 64 KB)."),
                    code="too_large",
                )
            try:
                text = upload.read().decode("utf-8").strip()
            except UnicodeDecodeError:
                raise forms.ValidationError(
                    _("The uploaded file is not a JSON key file."), code="invalid_credential"
                ) from None
        if text:
            try:
                key = ServiceAccountKey.parse(text)
                check_token_url(key.token_uri)
            except (InvalidCredential, InvalidTokenURL) as error:
                raise forms.ValidationError(str(error), code="invalid_credential") from None
        return text

    def clean_ca_certificate(self) -> str:
        from cryptography import x509  # Only a saved CA certificate needs the library.

        pem = str(self.cleaned_data.get("ca_certificate", "")).strip()
        if not pem:
            return ""
        if len(pem) > CA_CERTIFICATE_MAX_CHARS:
            raise forms.ValidationError(
                _("The CA certificate is too large (at most 64 KB)."), code="too_large"
            )
        try:
            x509.load_pem_x509_certificates(pem.encode())
        except ValueError:
            raise forms.ValidationError(
                _(
                    "This is not a PEM certificate. Paste the text from -----BEGIN "
                    "CERTIFICATE----- to -----END CERTIFICATE-----."
                ),
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
                _(
                    "SMTPS already encrypts the whole connection, so Enable TLS (STARTTLS) cannot "
                    "be used with it. Turn off Enable TLS, or choose SMTP to use STARTTLS."
                ),
            )
        if protocol == Protocol.SMTPS and port in (25, 587):
            self.add_error(
                "port",
                _(
                    "Port %(port)s expects SMTP, which starts in plain text. Use port 465 for "
                    "SMTPS, or choose SMTP with Enable TLS."
                )
                % {"port": port},
            )
        if protocol == Protocol.SMTP and port == 465:
            self.add_error(
                "port",
                _(
                    "Port 465 expects SMTPS (TLS from the first byte). Choose SMTPS, or use port "
                    "587 with Enable TLS."
                ),
            )
        self._ignore_other_methods(cleaned)
        if cleaned.get("use_auth"):
            self._clean_login(cleaned)
        return cleaned

    def _ignore_other_methods(self, cleaned: dict[str, Any]) -> None:
        """Drop the values and errors of the login fields the chosen method does not use.

        Without JavaScript the page shows the fields of every method, and the script hides the
        others', so a mistake there is neither the administrator's concern nor visible.
        """
        if "auth_method" in self.errors:
            return
        every = [name for names in METHOD_FIELDS.values() for name in names]
        if cleaned.get("use_auth"):
            in_use = METHOD_FIELDS[cleaned.get("auth_method") or AuthMethod.PASSWORD]
            ignored = [name for name in every if name not in in_use]
        else:
            ignored = ["username", *every]
        for name in ignored:
            self.errors.pop(name, None)
            cleaned[name] = None if name == "service_account_key_file" else ""

    def _clean_login(self, cleaned: dict[str, Any]) -> None:
        method = cleaned.get("auth_method")
        username = cleaned.get("username")
        if method == AuthMethod.PASSWORD:
            if not username and "username" not in self.errors:
                self.add_error("username", _("Enter the username the mail server expects."))
            return
        if not username and "username" not in self.errors:
            self.add_error(
                "username",
                _("Enter the mailbox that sends, such as noreply@example.org.")
                if method == AuthMethod.OAUTH2
                else _("Enter the Workspace user the service account sends as."),
            )
        elif method == AuthMethod.GOOGLE_SERVICE_ACCOUNT and username and "@" not in username:
            self.add_error(
                "username",
                _("Enter the full address of a Workspace user, such as noreply@example.org."),
            )
        if method == AuthMethod.OAUTH2:
            if not cleaned.get("token_url") and "token_url" not in self.errors:
                self.add_error("token_url", _("Enter the token URL of the provider."))
            if not cleaned.get("client_id") and "client_id" not in self.errors:
                self.add_error("client_id", _("Enter the client ID of the application."))


class TestMailForm(forms.Form):
    test_recipient = forms.EmailField(
        label=gettext_lazy("Test recipient"),
        max_length=254,
        help_text=gettext_lazy(
            "A mailbox you can read: the test mail carries a code to confirm delivery."
        ),
    )

    def clean_test_recipient(self) -> str:
        address = str(self.cleaned_data["test_recipient"]).strip()
        check_header_text(address, _("The test recipient"))
        return address


class ConfirmDeliveryForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Confirmation code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )
