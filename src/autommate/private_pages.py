"""Pages for a signed-in user are never stored: not by the browser's cache, nor by a proxy.

A page an administrator saw (users, mail settings, the audit log) would otherwise stay in the
browser's cache after signing out, for the next person at the same computer to bring back with
the Back button. A middleware rather than a decorator, so that no page can be forgotten.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class NoStoreWhenSignedIn:
    """Send `Cache-Control: no-store` with every answer to a signed-in user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # An answer that never looked at the session cannot depend on who is signed in; asking
        # would look, and make every answer vary by cookie.
        if session is None or not session.accessed or not request.user.is_authenticated:
            return response
        if "no-store" not in response.get("Cache-Control", ""):
            response["Cache-Control"] = "no-store"
        return response
