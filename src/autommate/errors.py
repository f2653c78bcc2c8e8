"""The one error model: a refusal by a rule of the product, shown alike by every front door.

A service raises a `DomainError` subclass; the front doors map it, each in one place:
the API answers `{"code", "message", "fields"}` with the error's status (`autommate.api.errors`),
pages show a rate limit as a 429 page with the wait (`autommate.error_pages`) and anything else
in the form that caused it, and commands exit with a message (`autommate.scripting`).
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy, ngettext


class DomainError(Exception):
    """A request the product refuses, with words for people and a stable code for programs."""

    code: ClassVar[str] = "refused"
    status: ClassVar[HTTPStatus] = HTTPStatus.BAD_REQUEST
    default_message: ClassVar[str | Promise] = gettext_lazy("This request was refused.")

    def __init__(
        self,
        message: str | Promise | None = None,
        *,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        # In the language active where it is raised: the request's, or English in a command.
        self.message = str(message or self.default_message)
        # The form field or API field the refusal is about, if it is about one.
        self.field = field
        # Seconds until the same request may succeed, for refusals that pass with time.
        self.retry_after = retry_after
        super().__init__(self.message)


def wait_in_words(seconds: int) -> str:
    """Return a wait as people say it: "40 seconds", "2 minutes", "3 hours".

    From a minute on, the wait is rounded up to whole minutes (or hours from two hours on), so
    that the words stay the same for a minute at a time.
    """
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    if seconds < 2 * 3600:
        minutes = math.ceil(seconds / 60)
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = math.ceil(seconds / 3600)
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
