"""`autommate users list|add|language|deactivate|unlock|invite|send-reset`: user management
from a shell."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from autommate.accounts import selectors, services
from autommate.accounts.forms import UserForm
from autommate.accounts.management.scripting import (
    OperatorCommand,
    add_output_options,
    command_actor,
    command_actor_if_any,
    one_line,
    read_secret_from_stdin,
    write_json,
)
from autommate.accounts.models import Role, User, email_key
from autommate.accounts.schemas import UserOut

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]
AUTOMATIC = "auto"


class Command(OperatorCommand):
    help = (
        "List, add, deactivate, unlock and invite users, set their language, and send them "
        "reset links."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        listing = actions.add_parser("list", help="List users by email.")
        listing.add_argument("--search", default="", help="Part of the email or full name.")
        add_output_options(listing)

        add = actions.add_parser(
            "add",
            help="Add a user. Without --password-stdin, the user sets a first password "
            "through Forgot Password.",
        )
        add.add_argument("email")
        add.add_argument("--full-name", default="")
        add.add_argument("--role", choices=Role.values, default=Role.USER)
        add.add_argument("--inactive", action="store_true", help="Add the user deactivated.")
        add.add_argument(
            "--language",
            choices=LANGUAGE_CODES,
            default="",
            help="The language of the user's pages and mails (default: automatic, the browser's).",
        )
        add.add_argument(
            "--password-stdin", action="store_true", help="Read a password from standard input."
        )
        add_output_options(add, acts=True)

        language = actions.add_parser(
            "language",
            help="Set the language of a user's pages and mails; auto to follow the browser.",
        )
        language.add_argument("email")
        language.add_argument("language", choices=[*LANGUAGE_CODES, AUTOMATIC])
        add_output_options(language, acts=True)

        deactivate = actions.add_parser("deactivate", help="Deactivate a user.")
        deactivate.add_argument("email")
        add_output_options(deactivate, acts=True)

        unlock = actions.add_parser(
            "unlock",
            help="Lift the locks strangers can put on a user: failed attempts to log in and "
            "the limit of reset mails to their address.",
        )
        unlock.add_argument("email")
        add_output_options(unlock, acts=True)

        invite = actions.add_parser(
            "invite",
            help="Mail a user without a password an invitation to set one, replacing any sent "
            "before. Works whether or not Forgot Password is on.",
        )
        invite.add_argument("email")
        add_output_options(invite, acts=True)

        send_reset = actions.add_parser(
            "send-reset",
            help="Mail a user a password reset link, to their stored address only. Works "
            "whether or not Forgot Password is on; limited like the user's own requests.",
        )
        send_reset.add_argument("email")
        add_output_options(send_reset, acts=True)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            users = selectors.user_list(search=options["search"].strip())
            self._print(selectors.users_with_statuses(users=users), as_json=options["json"])
        elif action == "add":
            self._add(options)
        elif action == "unlock":
            user = self._user(options["email"])
            # The one administrator may be the one locked out: unlocking needs nobody to act as.
            services.user_unlock(user=user, actor=command_actor_if_any(options["actor"]))
            if not options["json"]:
                self.stdout.write(f"Logging in to {user.email} is unlocked.")
            self._print([user], as_json=options["json"], single=True)
        elif action == "invite":
            user = self._user(options["email"])
            services.user_invite(user=user, actor=command_actor(options["actor"]))
            if not options["json"]:
                self.stdout.write(f"An invitation has been sent to {user.email}.")
            self._print([user], as_json=options["json"], single=True)
        elif action == "language":
            user = self._user(options["email"])
            chosen = "" if options["language"] == AUTOMATIC else options["language"]
            services.user_update(user=user, actor=command_actor(options["actor"]), language=chosen)
            if not options["json"]:
                self.stdout.write(f"The language of {user.email} is {options['language']}.")
            self._print([user], as_json=options["json"], single=True)
        elif action == "send-reset":
            user = self._user(options["email"])
            services.user_reset_link_send(user=user, actor=command_actor(options["actor"]))
            if not options["json"]:
                self.stdout.write(f"A password reset link has been sent to {user.email}.")
            self._print([user], as_json=options["json"], single=True)
        else:
            user = self._user(options["email"])
            services.user_deactivate(user=user, actor=command_actor(options["actor"]))
            if not options["json"]:
                self.stdout.write(f"User {user.email} is deactivated.")
            self._print([user], as_json=options["json"], single=True)

    def _user(self, email: str) -> User:
        user = User.objects.filter(email_key=email_key(email)).first()
        if user is None:
            raise CommandError(f"There is no user {email}.")
        return user

    def _add(self, options: dict[str, Any]) -> None:
        form = UserForm(
            data={
                "email": options["email"],
                "full_name": options["full_name"],
                "role": options["role"],
                "is_active": not options["inactive"],
                "language": options["language"],
                "password": read_secret_from_stdin() if options["password_stdin"] else "",
            }
        )
        if not form.is_valid():
            raise CommandError(one_line(ValidationError(form.errors.as_data())))
        data = dict(form.cleaned_data)
        data.pop("send_invitation", None)
        # The first administrator of a fresh installation is added by nobody.
        user = services.user_create(**data, actor=command_actor_if_any(options["actor"]))
        if not options["json"]:
            self.stdout.write(f"User {user.email} has been added.")
        self._print([user], as_json=options["json"], single=True)

    def _print(self, users: list[User], *, as_json: bool, single: bool = False) -> None:
        rows = [UserOut.from_orm(user).model_dump(mode="json") for user in users]
        if as_json:
            write_json(self.stdout, rows[0] if single else rows)
            return
        if not rows:
            self.stdout.write("No users match.")
            return
        width = max(len(row["email"]) for row in rows)
        for row in rows:
            status = "active" if row["is_active"] else "inactive"
            role = "administrator" if row["role"] == Role.ADMINISTRATOR else "user"
            name = f"  {row['full_name']}" if row["full_name"] else ""
            self.stdout.write(f"{row['email']:<{width}}  {role:<13}  {status:<8}{name}")
