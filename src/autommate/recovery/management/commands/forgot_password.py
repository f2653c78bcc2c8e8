"""`autommate forgot-password status|enable|disable`: the Forgot Password switch from a shell."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from autommate.accounts.management.scripting import (
    OperatorCommand,
    add_output_options,
    command_actor,
    write_json,
)
from autommate.errors import DomainError
from autommate.recovery import services
from autommate.recovery.models import LINK_LIFETIME_MAX_MINUTES, LINK_LIFETIME_MIN_MINUTES
from autommate.recovery.selectors import forgot_password_settings_get, forgot_password_state


class Command(OperatorCommand):
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

    def refusal_message(self, error: DomainError) -> str:
        if isinstance(error, services.MailNotVerified):
            return f"Forgot Password stays off: {error.message}"
        return error.message

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action != "status":
            current = forgot_password_settings_get()
            lifetime = options["link_lifetime"]
            services.forgot_password_configure(
                enabled=action == "enable",
                link_lifetime_minutes=current.link_lifetime_minutes
                if lifetime is None
                else lifetime,
                actor=command_actor(options["actor"]),
            )
        state = forgot_password_state()
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
