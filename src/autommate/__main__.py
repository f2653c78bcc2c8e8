"""The `autommate` command: Django's management entry point with the project's settings."""

from __future__ import annotations

from autommate.command_line import COMMAND_ALIASES, main

__all__ = ["COMMAND_ALIASES", "main"]

if __name__ == "__main__":
    main()
