"""`autommate mailserver show|set|test|confirm`: the mail server settings from a shell."""

from __future__ import annotations

from argparse import ArgumentParser, BooleanOptionalAction
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

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
from autommate.mailserver.models import EDITABLE_FIELDS, MailServerSettings, Protocol
from autommate.mailserver.schemas import MailServerOut
from autommate.mailserver.selectors import mail_server_get

NOT_VERIFIED_HINT = (
    "They are not verified: send a test mail with `autommate mailserver test --to ADDRESS`, "
    "then confirm its code with `autommate mailserver confirm CODE`."
)


class Command(OperatorCommand):
    help = "Show, change and test the outgoing mail server; confirm a test mail's delivery."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        show = actions.add_parser("show", help="Print the settings (never the password).")
        add_output_options(show)

        change = actions.add_parser(
            "set", help="Change the given settings; the others stay as they are."
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
            help="Log in to the server (implied by --username).",
        )
        change.add_argument("--username")
        change.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from standard input (it is never a command-line argument, "
            "where other users could see it).",
        )
        change.add_argument(
            "--ca-certificate",
            metavar="PEM_FILE",
            help="The certificate of a private CA; an empty string removes it.",
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
        labels = {
            "host": "Server name",
            "port": "Port",
            "protocol": "Protocol",
            "use_tls": "Enable TLS",
            "sender_name": "Sender name",
            "sender_email": "Sender email",
            "use_auth": "Use authentication",
            "username": "Username",
            "has_password": "Password",
            "ca_certificate": "CA certificate",
            "verified": "Verified",
        }
        for key, label in labels.items():
            value = data[key]
            if key == "has_password":
                value = "saved (never shown)" if value else "none"
            elif key == "ca_certificate":
                value = "set" if value else "none"
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            self.stdout.write(f"{label + ':':<20}{value}")

    def _set(self, options: dict[str, Any]) -> None:
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
        ]:
            if options[option] is not None:
                data[field] = options[option]
        if options["auth"] is not None:
            data["use_auth"] = options["auth"]
        elif options["username"]:
            data["use_auth"] = True
        if options["ca_certificate"] is not None:
            data["ca_certificate"] = _read_file(options["ca_certificate"])
        data["password"] = read_secret_from_stdin() if options["password_stdin"] else ""
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
        values = {name: getattr(saved, name) for name in EDITABLE_FIELDS}
        result = services.mail_server_test(
            values=values,
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


def _read_file(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"Cannot read {path}: {error}") from None
