"""The JSON error body of the API, `{"code", "message", "fields"}`, for any part of the product.

Pages and health checks answer API callers with it too; it needs nothing of django-ninja, so
they do not load the API to do so.
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import HttpResponse, JsonResponse

WWW_AUTHENTICATE = 'Bearer realm="Autom Mate API"'


def error_response(
    status: HTTPStatus,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    *,
    retry_after: int | None = None,
) -> HttpResponse:
    """Return the JSON error body every failure of the API has."""
    response = JsonResponse(
        {"code": code, "message": message, "fields": fields or {}}, status=status
    )
    if status == HTTPStatus.UNAUTHORIZED:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    if retry_after is not None:
        response["Retry-After"] = str(max(1, retry_after))
    return response
