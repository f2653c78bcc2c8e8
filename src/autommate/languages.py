"""Which language each reader gets, and dates and times as that reader reads them.

A page is in the signed-in user's own Language when they have chosen one; otherwise, and on the
pages seen before logging in, Django's choice: the language cookie the switcher sets, then the
browser's Accept-Language, then LANGUAGE_CODE. A mail is composed in its recipient's Language,
else in the language recorded with what caused it (the page a reset was asked for on), else in
LANGUAGE_CODE; never in whatever language the process that composes it happens to have active.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import dateformat, timezone, translation


def language_supported(code: str | None) -> str | None:
    """Return `code` when it names one of LANGUAGES, else None."""
    if code and code in dict(settings.LANGUAGES):
        return code
    return None


def mail_language(*, user: object | None = None, requested: str | None = None) -> str:
    """Return the language of a mail: the recipient's own Language, else `requested` (the
    language recorded with the request that caused it), else the installation's default."""
    own = language_supported(getattr(user, "language", None))
    return own or language_supported(requested) or settings.LANGUAGE_CODE


def user_language(user: object) -> str | None:
    """Return the Language a signed-in `user` chose for their pages, or None (automatic)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return language_supported(getattr(user, "language", None))


class UserLanguageMiddleware:
    """Show a signed-in user's pages in their own Language, when they have chosen one.

    Runs after LocaleMiddleware (which has chosen from the cookie and Accept-Language) and
    AuthenticationMiddleware; LocaleMiddleware then names the language that was active in the
    response's Content-Language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        own = user_language(getattr(request, "user", None))
        if own is not None:
            translation.activate(own)
            request.LANGUAGE_CODE = own
        return self.get_response(request)


# How each language writes a moment in running text; the month's name comes from Django's own
# catalogues. Every one is followed by the name of the installation's time zone.
_DATETIME_FORMATS = {
    "en": "j F Y, H:i",
    "de": "j. F Y, H:i",
    "tr": "j F Y, H:i",
}


def datetime_in_words(value: datetime) -> str:
    """Return `value` as the active language writes it, in the installation's time zone, with
    the zone named: "6 December 2026, 21:40 UTC", "6. Dezember 2026, 21:40 UTC"."""
    local = timezone.localtime(value, ZoneInfo(settings.TIME_ZONE))
    language = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    pattern = _DATETIME_FORMATS.get(language, _DATETIME_FORMATS["en"])
    return f"{dateformat.format(local, pattern)} {local.tzname()}"
