"""`autommate forgot-password status|enable|disable`: the Forgot Password switch from a shell."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from autommate.accounts.management.scripting import (
    add_output_options,
    command_actor,
    one_line,
    write_json,
)
from autommate.recovery import services
from autommate.recovery.api import switch_state
from autommate.recovery.models import LINK_LIFETIME_MAX_MINUTES, LINK_LIFETIME_MIN_MINUTES
from autommate.recovery.selectors import forgot_password_settings_get


class Command(BaseCommand):
    help = (
        "Show or switch Forgot Password. Enabling is refused while the mail settings are "
        "unverified."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add_output_options(actions.add_parser("status", help="Show whether it is on."))
        for name, text in [("enable", "Switch it on."), ("disable", "Switch it off.")]:
            switch = actions.add_parser(name, help=text)
            switch.add_argument(
                "--link-lifetime",
                type=int,
                metavar="MINUTES",
                help=f"How long a reset link works, {LINK_LIFETIME_MIN_MINUTES} to "
                f"{LINK_LIFETIME_MAX_MINUTES} minutes (default: unchanged).",
            )
            add_output_options(switch, acts=True)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action != "status":
            current = forgot_password_settings_get()
            lifetime = options["link_lifetime"]
            try:
                services.forgot_password_configure(
                    enabled=action == "enable",
                    link_lifetime_minutes=current.link_lifetime_minutes
                    if lifetime is None
                    else lifetime,
                    actor=command_actor(options["actor"]),
                )
            except services.MailNotVerified as error:
                raise CommandError(f"Forgot Password stays off: {error}") from None
            except ValidationError as error:
                raise CommandError(one_line(error)) from None
        state = switch_state()
        if options["json"]:
            write_json(self.stdout, state)
            return
        self.stdout.write(f"Forgot Password is {'on' if state['enabled'] else 'off'}.")
        self.stdout.write(f"Reset links work for {state['link_lifetime_minutes']} minutes.")
        if state["mail_ready"]:
            self.stdout.write("The mail settings are verified.")
        elif state["enabled"]:
            self.stdout.write(f"The mail settings are not verified: {state['not_ready_reason']}")
        else:
            self.stdout.write(f"It cannot be switched on yet: {state['not_ready_reason']}")
