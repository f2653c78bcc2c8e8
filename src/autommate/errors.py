"""Error pages: plain words, the product's layout, never a stack trace."""

from __future__ import annotations

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string


def _render(request: HttpRequest, status: HTTPStatus, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        code = status.phrase.lower().replace(" ", "_")
        return JsonResponse({"code": code, "message": message}, status=status)
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
        "Bad request",
        "The request could not be understood. Go back and try again.",
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(
        request,
        HTTPStatus.FORBIDDEN,
        "Not allowed",
        "You do not have access to this page. Sign in with an administrator account.",
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(
        request, HTTPStatus.NOT_FOUND, "Page not found", "There is no page at this address."
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not finish this request. It has been logged; try again shortly.",
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _render(
        request,
        HTTPStatus.FORBIDDEN,
        "Form expired",
        "This form was opened too long ago or cookies are blocked. Reload the page and "
        "submit it again.",
    )
