"""Error pages: plain words, the product's layout, never a stack trace.

Also the pages' one way to show a refusal nobody can fix in a form: `DomainErrorPages` turns a
`DomainError` a view lets through into a page with its status; a rate limit becomes a 429 page
with the wait, in words and in `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from autommate.api.responses import error_response
from autommate.errors import DomainError


def _render(request: HttpRequest, status: HTTPStatus, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return error_response(status, status.phrase.lower().replace(" ", "_"), message)
    body: str
    try:
        body = render_to_string("error.html", {"title": title, "message": message}, request=request)
    except Exception:  # The layout itself may be what failed; fall back to bare text.
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>"
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(
        request,
        HTTPStatus.BAD_REQUEST,
        _("Bad request"),
        _("The request could not be understood. Go back and try again."),
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(
        request,
        HTTPStatus.FORBIDDEN,
        _("Not allowed"),
        _("You do not have access to this page. Log in with an administrator account."),
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(
        request, HTTPStatus.NOT_FOUND, _("Page not found"), _("There is no page at this address.")
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        _("Something went wrong"),
        _("The server could not finish this request. It has been logged; try again shortly."),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _render(
        request,
        HTTPStatus.FORBIDDEN,
        _("Form expired"),
        _(
            "This form was opened too long ago or cookies are blocked. Reload the page and "
            "submit it again."
        ),
    )


def refusal_page(request: HttpRequest, error: DomainError) -> HttpResponse:
    """Return the page for a refusal: for a rate limit, 429 with the wait."""
    if error.status == HTTPStatus.TOO_MANY_REQUESTS:
        response = render(
            request,
            "rate_limited.html",
            {"message": error.message, "back_url": _back_url(request)},
            status=error.status,
        )
    else:
        response = render(
            request,
            "error.html",
            {"title": _status_title(error.status), "message": error.message},
            status=error.status,
        )
    if error.retry_after is not None:
        response["Retry-After"] = str(max(1, error.retry_after))
    response["Cache-Control"] = "no-store"
    return response


def _status_title(status: HTTPStatus) -> str:
    """Return the heading of a refusal's page: the words of its status."""
    titles = {
        HTTPStatus.BAD_REQUEST: _("Bad request"),
        HTTPStatus.UNAUTHORIZED: _("Not logged in"),
        HTTPStatus.FORBIDDEN: _("Not allowed"),
        HTTPStatus.NOT_FOUND: _("Page not found"),
        HTTPStatus.CONFLICT: _("Conflict"),
        HTTPStatus.SERVICE_UNAVAILABLE: _("Service unavailable"),
    }
    return titles.get(status, status.phrase)


def _back_url(request: HttpRequest) -> str:
    """Return where "Back" leads: the page itself, or for a form post the page it came from."""
    if request.method in ("GET", "HEAD"):
        return request.path
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return "/"


class DomainErrorPages:
    """Show a `DomainError` that a view lets through as its page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DomainError):
            return refusal_page(request, exception)
        return None
