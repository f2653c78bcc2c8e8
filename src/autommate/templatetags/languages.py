"""What every template may use without loading anything: the page's language and moments in
running text, for its reader.

`<html lang="{% current_language %}">` names the language the page or mail is composed in;
`{{ changed_at|datetime_in_words }}` gives "6. Dezember 2026, 21:40 UTC" under German.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.conf import settings
from django.utils import translation

from autommate.languages import datetime_in_words as _datetime_in_words

register = template.Library()


@register.simple_tag
def current_language() -> str:
    """Return the code of the active language (the installation's default when none is)."""
    return translation.get_language() or settings.LANGUAGE_CODE


@register.simple_tag(takes_context=True)
def language_switch_next(context: template.Context) -> str:
    """Return where the language switcher leads back to: this page, in the chosen language.

    Never a link's token: the page of a link (`/reset-password/<token>/` when it is invalid
    or throttled) leads to the same page without it; a page of no route, to the start page.
    """
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if request is None or match is None:
        return "/"
    token = match.kwargs.get("token")
    if token is not None:
        return "/".join(part for part in request.path.split("/") if part != token)
    return str(request.get_full_path())


@register.filter
def datetime_in_words(value: datetime | None) -> str:
    """Return the moment with the zone named; nothing for no moment."""
    if not isinstance(value, datetime):
        return ""
    return _datetime_in_words(value)
