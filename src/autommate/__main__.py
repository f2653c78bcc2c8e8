"""The `autommate` command: Django's management entry point with the project's settings."""

from __future__ import annotations

import os
import sys

# Commands whose product name is not a valid Python module name.
COMMAND_ALIASES = {"forgot-password": "forgot_password"}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autommate.settings")
    from django.core.management import execute_from_command_line

    arguments = list(sys.argv[1:] if argv is None else argv)
    # `autommate forgot-password …` and `autommate help forgot-password`.
    for index in (0, 1) if arguments[:1] == ["help"] else (0,):
        if index < len(arguments):
            arguments[index] = COMMAND_ALIASES.get(arguments[index], arguments[index])
    execute_from_command_line(["autommate", *arguments])


if __name__ == "__main__":
    main()
