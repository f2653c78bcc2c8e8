"""Password policy pieces Django does not ship: an upper bound that refuses, never truncates."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError


class MaximumLengthValidator:
    def __init__(self, max_length: int | None = None) -> None:
        self.max_length = max_length or settings.PASSWORD_MAX_LENGTH

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                "This password is too long: use at most %(max)d characters.",
                code="password_too_long",
                params={"max": self.max_length},
            )

    def get_help_text(self) -> str:
        return f"Your password can be up to {self.max_length} characters long."
