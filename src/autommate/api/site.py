"""The NinjaAPI at `/api/v1/`: its routers, its error handler and its URLs.

Every failure, whichever layer it comes from, leaves through `errors.api_error` as the same JSON
body. `api_urls()` adds what django-ninja does not offer to the URLs it generates (the documentation
page's assets, an index at the root, no-store answers, JSON for a wrong method), working on the
public `NinjaAPI.urls` rather than on its private URL builder.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Router
from ninja.operation import Operation

from autommate.accounts.api import tokens_router, users_router
from autommate.audit.api import router as audit_router
from autommate.delivery.api import router as delivery_router
from autommate.mailserver.api import router as mailserver_router
from autommate.recovery.api import router as recovery_router

from .auth import administrators, signed_in
from .docs import SelfHostedSwagger, docs_asset
from .errors import api_error
from .parsing import JsonParser
from .responses import error_response

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class AutommateAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # The view functions' names are unique across the routers, and short.
        return str(operation.view_func.__name__)

    def on_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse:  # type: ignore[override]
        return api_error(request, exc)


def api_index(request: HttpRequest, api: NinjaAPI) -> HttpResponse:
    """Say where the OpenAPI document and the documentation page are."""
    return JsonResponse(
        {
            "title": api.title,
            "version": api.version,
            "openapi": reverse(f"{api.urls_namespace}:openapi-json"),
            "docs": reverse(f"{api.urls_namespace}:openapi-view"),
        }
    )


def _json_only(view: Callable[..., HttpResponseBase]) -> Callable[..., Any]:
    """Wrap a route so that its answers are never cached, and a wrong method gets JSON too."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if response.status_code == HTTPStatus.METHOD_NOT_ALLOWED and not response.get(
            "Content-Type", ""
        ).startswith("application/json"):
            allowed = response.get("Allow", "")
            response = error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "method_not_allowed",
                _("%(method)s is not allowed here. Allowed: %(allowed)s.")
                % {"method": request.method, "allowed": allowed},
            )
            response["Allow"] = allowed
        response.setdefault("Cache-Control", "no-store")
        return response

    return wrapper


api = AutommateAPI(
    title="Autom Mate API",
    version="1",
    description=(
        "Everything the administration pages do, for scripts and pipelines.\n\n"
        "**Authentication.** Send a personal API token (created on /account/tokens/, or with "
        "`POST /api/v1/api-tokens` from a logged-in session) as `Authorization: Bearer amt_…`, "
        "or use a logged-in browser session; a session needs the CSRF token in `X-CSRFToken` "
        "for every method that changes something. Tokens are created and revoked only from a "
        "session: with a token, those two operations are `403 session_required`.\n\n"
        '**Errors.** Every failure is JSON: `{"code": …, "message": …, "fields": {…}}`. '
        "`code` is stable; `message` is for people; `fields` maps a field to its messages. "
        "Invalid input is `400 validation_failed` (never 422). Bodies must be JSON "
        "(`Content-Type: application/json`, else `415 unsupported_media_type`) and at most "
        f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KB (else `413 payload_too_large`)."
    ),
    urls_namespace="api-v1",
    auth=administrators,
    parser=JsonParser(),
    docs=SelfHostedSwagger(),
)


api.add_router("/mail-server", mailserver_router, tags=["Mail server"])
api.add_router("", recovery_router, tags=["Forgot Password"])
api.add_router("/users", users_router, tags=["Users"])
api.add_router("/api-tokens", tokens_router, auth=signed_in, tags=["API tokens"])
api.add_router("/mail-log", delivery_router, tags=["Mail log"])
api.add_router("/audit-events", audit_router, tags=["Audit log"])

# Anything else under /api/v1/ is a JSON 404, whatever the method (Django's 404 handler would
# answer only once the whole URL configuration has been tried, and in debug mode with HTML).
_fallback = Router()


@_fallback.api_operation(ALL_METHODS, "/{path:rest}", auth=None, include_in_schema=False)
def unknown_route(request: HttpRequest, rest: str) -> None:
    raise Http404(_("There is no API operation at this address."))


api.add_router("", _fallback)  # Last: the routes above are tried first.


def api_urls() -> tuple[list[URLResolver | URLPattern], str, str]:
    """Return the API's URL configuration for `include()`."""
    patterns, app_name, namespace = api.urls
    urls: list[URLResolver | URLPattern] = [
        path("docs/assets/<str:name>", docs_asset, name="docs-asset"),
        *patterns,
    ]
    for pattern in urls:
        if not isinstance(pattern, URLPattern) or pattern.callback is docs_asset:
            continue
        if pattern.name == "api-root":
            pattern.callback = partial(api_index, api=api)
        pattern.callback = _json_only(pattern.callback)
    return urls, app_name, namespace
