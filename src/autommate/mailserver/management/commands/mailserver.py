"""`autommate mailserver show|set|test|confirm`: the mail server settings from a shell."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError, BooleanOptionalAction
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, no_translations

from autommate.accounts.management.scripting import (
    OperatorCommand,
    add_output_options,
    command_actor,
    one_line,
    read_secret_from_stdin,
    write_json,
)
from autommate.mailserver import services
from autommate.mailserver.forms import ConfirmDeliveryForm, MailServerForm, TestMailForm
from autommate.mailserver.models import (
    EDITABLE_FIELDS,
    SECRET_FIELDS,
    AuthMethod,
    MailServerSettings,
    Protocol,
)
from autommate.mailserver.schemas import MailServerOut
from autommate.mailserver.selectors import mail_server_get, unreadable_secret_messages

# The options that only OAuth 2.0 uses, and so choose it when no method is given.
OAUTH2_OPTIONS = ("token_url", "client_id", "client_secret_stdin", "client_certificate")
SHOWN = {
    "host": "Server name",
    "port": "Port",
    "protocol": "Protocol",
    "use_tls": "Enable TLS",
    "sender_name": "Sender name",
    "sender_email": "Sender email",
    "use_auth": "Use authentication",
    "auth_method": "Authentication method",
    "username": "Username",
    "allow_insecure_login": "Allow login without TLS",
    "password_set": "Password",
    "token_url": "Token URL",
    "client_id": "Client ID",
    "client_secret_set": "Client secret",
    "client_certificate_set": "Client certificate",
    "scope": "Scope",
    "service_account_key_set": "Service account key",
    "service_account_email": "Service account email",
    "ca_certificate": "CA certificate",
    "ehlo_name_in_use": "EHLO name",
    "send_rate_per_minute": "Messages per minute",
    "max_connections": "Maximum connections",
    "verified": "Verified",
}
NOT_VERIFIED_HINT = (
    "They are not verified: send a test mail with `autommate mailserver test --to ADDRESS`, "
    "then confirm its code with `autommate mailserver confirm CODE`."
)


class Command(OperatorCommand):
    help = "Show, change and test the outgoing mail server; confirm a test mail's delivery."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        show = actions.add_parser(
            "show", help="Print the settings (never the password or another secret)."
        )
        add_output_options(show)

        change = actions.add_parser(
            "set",
            help="Change the given settings; the others stay as they are.",
            description="Change the given settings; the others stay as they are. Secrets are "
            "read from standard input or from files, never from arguments; a secret not given "
            "stays saved while the server, token URL and client ID it was saved for stay the "
            "same (and for the password, the protocol, TLS, CA certificate and "
            "--allow-insecure-login). Choosing an authentication method removes the secrets of "
            "the others.",
        )
        change.add_argument("--host", help="Server name, such as smtp.example.org.")
        change.add_argument("--port", type=int)
        change.add_argument("--protocol", choices=Protocol.values)
        change.add_argument(
            "--tls", action=BooleanOptionalAction, help="Enable TLS (STARTTLS), for SMTP."
        )
        change.add_argument("--sender-name")
        change.add_argument("--sender-email")
        change.add_argument(
            "--auth",
            action=BooleanOptionalAction,
            help="Log in to the server (implied by --username, --auth-method and the credentials).",
        )
        change.add_argument(
            "--auth-method",
            choices=AuthMethod.values,
            help="How to log in: password (the default), oauth2 (Microsoft 365 and other OAuth "
            "2.0 providers) or google-service-account (Google Workspace).",
        )
        change.add_argument(
            "--username",
            help="The login name; with oauth2 the mailbox that sends, with "
            "google-service-account the Workspace user it sends as.",
        )
        change.add_argument(
            "--allow-insecure-login",
            action=BooleanOptionalAction,
            help="Allow login without TLS: send the password or access token in clear when "
            "Enable TLS is off. Only for a server that offers no TLS on a network you trust, "
            "such as a relay on this machine.",
        )
        change.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from standard input (it is never a command-line argument, "
            "where other users could see it).",
        )
        change.add_argument(
            "--token-url",
            metavar="URL",
            help="OAuth 2.0: where access tokens come from, an https URL (implies --auth-method "
            "oauth2).",
        )
        change.add_argument(
            "--client-id",
            metavar="ID",
            help="OAuth 2.0: the application's client ID (implies --auth-method oauth2).",
        )
        change.add_argument(
            "--client-secret-stdin",
            action="store_true",
            help="OAuth 2.0: read the client secret from standard input, never an argument "
            "(implies --auth-method oauth2).",
        )
        change.add_argument(
            "--client-certificate",
            metavar="PEM_FILE",
            help="OAuth 2.0, instead of a client secret: the PEM private key (RSA) followed by "
            "its certificate (implies --auth-method oauth2).",
        )
        change.add_argument(
            "--scope",
            metavar="SCOPE",
            help="OAuth 2.0: the scope to ask for, such as https://outlook.office365.com/.default.",
        )
        change.add_argument(
            "--service-account-key",
            metavar="JSON_FILE",
            help="Google service account: its JSON key file (implies --auth-method "
            "google-service-account).",
        )
        change.add_argument(
            "--ca-certificate",
            metavar="PEM_FILE",
            help="The certificate of a private CA (trusted for the token URL too); an empty "
            "string removes it.",
        )
        change.add_argument(
            "--ehlo-name",
            metavar="NAME",
            help="The name to greet the mail server with, a fully-qualified host name; an empty "
            "string greets with the host of AUTOMMATE_BASE_URL.",
        )
        change.add_argument(
            "--send-rate",
            metavar="N",
            type=_limit,
            help="Send rate limit: at most N mails a minute, across every worker (1 to 10000); "
            "an empty string or 'none' removes the limit. Keeps verified settings verified.",
        )
        change.add_argument(
            "--max-connections",
            metavar="N",
            type=_limit,
            help="Send rate limit: at most N connections at once, across every worker (1 to "
            "20); an empty string or 'none' leaves it to AUTOMMATE_DELIVERY_CONNECTIONS per "
            "worker. Keeps verified settings verified.",
        )
        add_output_options(change, acts=True)

        test = actions.add_parser("test", help="Send a test mail with the saved settings.")
        test.add_argument("--to", required=True, metavar="ADDRESS", help="Test recipient.")
        add_output_options(test, acts=True)

        confirm = actions.add_parser(
            "confirm", help="Confirm delivery with the code from the received test mail."
        )
        confirm.add_argument("code", metavar="CODE")
        add_output_options(confirm, acts=True)

    # The command line stays English, whatever language a caller has active: the steps, causes
    # and refusals it prints are the pages' words, in their source language.
    @no_translations
    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "show":
            self._show(mail_server_get(), as_json=options["json"])
        elif action == "set":
            self._set(options)
        elif action == "test":
            self._test(options)
        else:
            self._confirm(options)

    def _show(self, mail_server: MailServerSettings, *, as_json: bool, note: str = "") -> None:
        data = MailServerOut.from_orm(mail_server).model_dump(mode="json")
        if as_json:
            write_json(self.stdout, data)
            return
        if note:
            self.stdout.write(note)
        for message in unreadable_secret_messages(mail_server):
            self.stdout.write(message)
        for key, label in SHOWN.items():
            value = data[key]
            if key.endswith("_set") and key.removesuffix("_set") in data["unreadable_secrets"]:
                value = "saved, but cannot be read with the current encryption keys"
            elif key.endswith("_set"):
                value = "saved (never shown)" if value else "none"
            elif key == "ca_certificate":
                value = "set" if value else "none"
            elif key == "send_rate_per_minute" and value is None:
                value = "no limit"
            elif key == "max_connections" and value is None:
                value = "each worker's own (AUTOMMATE_DELIVERY_CONNECTIONS)"
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            self.stdout.write(f"{label + ':':<24}{value}")

    def _set(self, options: dict[str, Any]) -> None:
        if options["password_stdin"] and options["client_secret_stdin"]:
            raise CommandError(
                "--password-stdin and --client-secret-stdin both read standard input: give one "
                "(the password logs in with --auth-method password, the client secret with "
                "oauth2)."
            )
        saved = mail_server_get()
        data: dict[str, Any] = {name: getattr(saved, name) for name in EDITABLE_FIELDS}
        for option, field in [
            ("host", "host"),
            ("port", "port"),
            ("protocol", "protocol"),
            ("tls", "use_tls"),
            ("sender_name", "sender_name"),
            ("sender_email", "sender_email"),
            ("username", "username"),
            ("allow_insecure_login", "allow_insecure_login"),
            ("token_url", "token_url"),
            ("client_id", "client_id"),
            ("scope", "scope"),
            ("ehlo_name", "ehlo_name"),
        ]:
            if options[option] is not None:
                data[field] = options[option]
        method = _chosen_method(options)
        if method is not None:
            data["auth_method"] = method
        if options["auth"] is not None:
            data["use_auth"] = options["auth"]
        elif options["username"] or method is not None:
            data["use_auth"] = True
        if options["ca_certificate"] is not None:
            data["ca_certificate"] = _read_file(options["ca_certificate"])
        for option, field in [
            ("send_rate", "send_rate_per_minute"),
            ("max_connections", "max_connections"),
        ]:
            if options[option] is not None:
                data[field] = None if options[option] == "" else options[option]
        data |= _typed_secrets(options, method=data["auth_method"], use_auth=data["use_auth"])
        form = MailServerForm(data=data, instance=mail_server_get(), saved=saved)
        if not form.is_valid():
            raise CommandError(one_line(ValidationError(form.errors.as_data())))
        updated = services.mail_server_save(
            values=form.cleaned_data,
            actor=command_actor(options["actor"]),
        )
        note = "Mail server settings saved."
        if not updated.is_verified:
            note += " " + NOT_VERIFIED_HINT
        self._show(updated, as_json=options["json"], note=note)

    def _test(self, options: dict[str, Any]) -> None:
        saved = mail_server_get()
        if not saved.is_configured:
            raise CommandError(
                "No mail server is configured: set one with `autommate mailserver set --host "
                "… --port … --sender-email …`."
            )
        recipient = TestMailForm(data={"test_recipient": options["to"]})
        if not recipient.is_valid():
            raise CommandError(
                "to: " + " ".join(str(m) for m in recipient.errors["test_recipient"])
            )
        # The saved settings pass the same checks as typed ones, so that settings saved before
        # a check existed are refused with its message rather than half-tested.
        data = {name: getattr(saved, name) for name in EDITABLE_FIELDS}
        form = MailServerForm(
            data=data | dict.fromkeys(SECRET_FIELDS, ""), instance=mail_server_get(), saved=saved
        )
        if not form.is_valid():
            raise CommandError(one_line(ValidationError(form.errors.as_data())))
        result = services.mail_server_test(
            values=form.cleaned_data,
            recipient=recipient.cleaned_data["test_recipient"],
            actor=command_actor(options["actor"]),
        )
        diagnosis = result.diagnosis
        if options["json"]:
            write_json(
                self.stdout,
                {
                    **diagnosis.as_dict(),
                    "recipient": result.recipient,
                    "code_issued": result.code_issued,
                },
            )
        else:
            for step in diagnosis.steps:
                line = f"[{step.status}] {step.label}"
                if step.detail:
                    line += f": {step.detail}"
                self.stdout.write(line)
                if step.cause:
                    self.stdout.write(f"    Cause: {step.cause}")
                if step.fix:
                    self.stdout.write(f"    Fix: {step.fix}")
        failure = diagnosis.failure
        if not diagnosis.ok:
            reason = f"{failure.label}: {failure.cause}" if failure else "no step passed"
            raise CommandError(f"The test mail failed at {reason}")
        if not options["json"]:
            self.stdout.write(
                f"The server accepted the test mail to {result.recipient}. When it arrives, "
                "confirm its code with `autommate mailserver confirm CODE`."
            )

    def _confirm(self, options: dict[str, Any]) -> None:
        form = ConfirmDeliveryForm(data={"code": options["code"]})
        if not form.is_valid():
            raise CommandError("code: " + " ".join(str(m) for m in form.errors["code"]))
        confirmed = services.mail_server_confirm(
            code=form.cleaned_data["code"], actor=command_actor(options["actor"])
        )
        self._show(
            confirmed,
            as_json=options["json"],
            note="Delivery confirmed: the mail server settings are verified.",
        )


def _limit(text: str) -> int | str:
    """A limit option: a whole number, or "" (given as an empty string or `none`) for none.

    Its range is checked by the form, with the page's message.
    """
    text = text.strip()
    if text.lower() in ("", "none"):
        return ""
    try:
        return int(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a whole number (or 'none').") from None


def _given(options: dict[str, Any], name: str) -> bool:
    return options[name] not in (None, False)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _chosen_method(options: dict[str, Any]) -> str | None:
    """Return the authentication method given or implied by the options (None: unchanged)."""
    implied: dict[str, list[str]] = {}
    for name in OAUTH2_OPTIONS:
        if _given(options, name):
            implied.setdefault(AuthMethod.OAUTH2, []).append(name)
    if _given(options, "service_account_key"):
        implied.setdefault(AuthMethod.GOOGLE_SERVICE_ACCOUNT, []).append("service_account_key")
    explicit = options["auth_method"]
    if len(implied) > 1:
        given = " and ".join(
            f"{', '.join(map(_option, names))} ({method})" for method, names in implied.items()
        )
        raise CommandError(
            f"{given} are for different authentication methods: give the options of one."
        )
    for method, names in implied.items():
        if explicit and explicit != method:
            raise CommandError(
                f"{', '.join(map(_option, names))} {'is' if len(names) == 1 else 'are'} for "
                f"--auth-method {method}, not {explicit}."
            )
    if explicit:
        return str(explicit)
    return str(next(iter(implied))) if implied else None


def _typed_secrets(options: dict[str, Any], *, method: str, use_auth: bool) -> dict[str, str]:
    """Return the secrets the options give, read from standard input or files."""
    credentials = ("password_stdin", "client_secret_stdin", "client_certificate")
    given = [name for name in (*credentials, "service_account_key") if _given(options, name)]
    if given and not use_auth:
        if options["auth"] is False:
            raise CommandError(
                f"--no-auth turns the login off: leave out {', '.join(map(_option, given))}."
            )
        raise CommandError(
            f"The login is off: add --auth to log in with {', '.join(map(_option, given))}."
        )
    if options["password_stdin"] and method != AuthMethod.PASSWORD:
        raise CommandError(
            f"--password-stdin is for --auth-method password; the method is {method}."
        )
    secrets = dict.fromkeys(SECRET_FIELDS, "")
    if options["password_stdin"]:
        secrets["password"] = read_secret_from_stdin()
    if options["client_secret_stdin"]:
        secrets["client_secret"] = read_secret_from_stdin(
            "--client-secret-stdin", "the client secret"
        )
    for name, kind in [("client_certificate", "PEM"), ("service_account_key", "JSON")]:
        if options[name] is not None:
            if not options[name]:
                raise CommandError(f"{_option(name)} needs the path of a {kind} file.")
            secrets[name] = _read_file(options[name])
    return secrets


def _read_file(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"Cannot read {path}: {error}") from None
