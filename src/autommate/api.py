"""The JSON API (`/api/v1/`): one NinjaAPI with a router per domain.

Every failure, whichever layer it comes from (parsing, authentication, a domain rule, an unknown
route, a wrong method, a bug), leaves here as the same JSON body: `{"code", "message",
"fields"}`. Validation failures are `400 validation_failed`, never `422`, so that a form and
the API refuse the same input with the same status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial, wraps
from http import HTTPStatus
from pathlib import Path
from typing import Any

import ninja
from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.datastructures import MultiValueDict
from django.views.decorators.cache import cache_control
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.openapi.docs import DocsBase
from ninja.operation import Operation
from ninja.parser import Parser
from ninja.security import APIKeyCookie
from ninja.utils import check_csrf

from autommate.accounts.api import tokens_router, users_router
from autommate.accounts.tokens import BearerTokenAuth, InvalidToken
from autommate.audit.api import router as audit_router
from autommate.delivery.api import router as delivery_router
from autommate.mailserver.api import router as mailserver_router
from autommate.mailserver.services import (
    ConfirmationRateLimited,
    InvalidConfirmationCode,
    TestMailRateLimited,
)
from autommate.recovery.api import router as recovery_router
from autommate.recovery.services import (
    ForgotPasswordDisabled,
    InvalidResetLink,
    MailNotVerified,
    RateLimited,
)

logger = logging.getLogger(__name__)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
JSON_TYPES = {"application/json"}
WWW_AUTHENTICATE = 'Bearer realm="Autom Mate API"'


# -- Reading requests --------------------------------------------------------------------------


class UnsupportedMediaType(Exception):
    pass


class UnacceptableText(Exception):
    """Text no database column can hold: NUL characters or unpaired UTF-16 surrogates."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(field)


def _check_text(value: Any, field: str) -> None:
    pending = [(field, value)]
    while pending:
        name, item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnacceptableText(name)
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnacceptableText(name) from None
        elif isinstance(item, dict):
            for key, nested in item.items():
                pending.append((name, key))
                pending.append((f"{name}.{key}" if name else str(key), nested))
        elif isinstance(item, list):
            pending.extend((name, nested) for nested in item)


class JsonParser(Parser):
    """Accept JSON bodies only, and no text a database would refuse."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        media_type = request.content_type or ""
        if media_type not in JSON_TYPES and not media_type.endswith("+json"):
            raise UnsupportedMediaType(media_type)
        data = json.loads(request.body)
        _check_text(data, "")
        return data  # type: ignore[no-any-return]

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        for key, values in data.lists():
            _check_text(key, key)
            _check_text(values, key)
        return super().parse_querydict(data, list_fields, request)


# -- Who is calling ----------------------------------------------------------------------------


class CsrfFailed(HttpError):
    def __init__(self) -> None:
        super().__init__(
            HTTPStatus.FORBIDDEN,
            "The CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header, "
            "or use a personal API token.",
        )


class SessionAuth(APIKeyCookie):
    """Authenticate by the browser session; unsafe methods also need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, *, admin_only: bool = False) -> None:
        self.admin_only = admin_only
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        user = request.user
        if not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise CsrfFailed
        return self.authenticate(request, None)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if self.admin_only and not getattr(request.user, "is_admin", False):
            raise AuthorizationError(message="This needs an administrator.")
        return request.user


signed_in = [BearerTokenAuth(), SessionAuth()]
administrators = [BearerTokenAuth(admin_only=True), SessionAuth(admin_only=True)]


# -- The documentation page --------------------------------------------------------------------

# Swagger UI as django-ninja ships it, served from here: the site's Content-Security-Policy
# allows scripts and styles from this origin only, and the page has no inline script.
DOCS_ASSETS_DIR = Path(ninja.__file__).parent / "static" / "ninja"
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-init.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


class SelfHostedSwagger(DocsBase):
    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        swagger_settings = {
            "url": self.get_openapi_url(api, kwargs),
            "layout": "BaseLayout",
            "deepLinking": True,
            # The default validator is a badge loaded from swagger.io, another origin.
            "validatorUrl": None,
        }
        assets = {
            name.split(".")[0].replace("-", "_"): reverse(
                f"{api.urls_namespace}:docs-asset", args=[name]
            )
            for name in DOCS_ASSETS
        }
        return render(
            request,
            "api/docs.html",
            {"api": api, "swagger_settings": json.dumps(swagger_settings), "assets": assets},
        )


@cache_control(public=True, max_age=3600)
def docs_asset(request: HttpRequest, name: str) -> HttpResponseBase:
    if name not in DOCS_ASSETS:
        raise Http404
    return FileResponse((DOCS_ASSETS_DIR / name).open("rb"), content_type=DOCS_ASSETS[name])


# -- The API -----------------------------------------------------------------------------------


class AutommateAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # The view functions' names are unique across the routers, and short.
        return str(operation.view_func.__name__)

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        urls = [
            path("docs/assets/<str:name>", docs_asset, name="docs-asset"),
            *super()._get_urls(),
        ]
        for pattern in urls:
            if not isinstance(pattern, URLPattern) or pattern.callback is docs_asset:
                continue
            if pattern.name == "api-root":
                pattern.callback = partial(api_index, api=self)
            pattern.callback = _json_only(pattern.callback, self)
        return urls


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


def _json_only(view: Callable[..., HttpResponseBase], api: NinjaAPI) -> Callable[..., Any]:
    """Wrap a route so that its answers are never cached, and a wrong method gets JSON too."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if response.status_code == HTTPStatus.METHOD_NOT_ALLOWED and not response.get(
            "Content-Type", ""
        ).startswith("application/json"):
            allowed = response.get("Allow", "")
            response = error_response(
                request,
                HTTPStatus.METHOD_NOT_ALLOWED,
                "method_not_allowed",
                f"{request.method} is not allowed here. Allowed: {allowed}.",
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
        "**Authentication.** Send a personal API token (created on /account/tokens/ or with "
        "`POST /api/v1/api-tokens`) as `Authorization: Bearer amt_…`, or use a signed-in "
        "browser session; a session needs the CSRF token in `X-CSRFToken` for every method "
        "that changes something.\n\n"
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


def error_response(
    request: HttpRequest,
    status: HTTPStatus,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
) -> HttpResponse:
    """Return the JSON error body every failure of the API has."""
    response = api.create_response(
        request, {"code": code, "message": message, "fields": fields or {}}, status=status
    )
    if status == HTTPStatus.UNAUTHORIZED:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def _on_request_validation(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        source, *parts = [str(part) for part in error.get("loc", ())]
        if source == "body" and parts:
            parts = parts[1:]  # The name of the view's body parameter means nothing outside.
        fields.setdefault(".".join(parts) or source or "body", []).append(str(error["msg"]))
    return error_response(
        request,
        HTTPStatus.BAD_REQUEST,
        "validation_failed",
        f"Some values are not valid: {', '.join(fields)}.",
        fields,
    )


def _on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    general: list[str] = []
    fields: dict[str, list[str]] = {}
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            if field == "__all__":
                general.extend(messages)
            else:
                fields[field] = list(messages)
    else:
        general.extend(exc.messages)
    message = " ".join(general) or f"Some values are not valid: {', '.join(fields)}."
    return error_response(request, HTTPStatus.BAD_REQUEST, "validation_failed", message, fields)


def _on_unacceptable_text(request: HttpRequest, exc: UnacceptableText) -> HttpResponse:
    message = "Text must not contain NUL characters or unpaired surrogates."
    return error_response(
        request,
        HTTPStatus.BAD_REQUEST,
        "validation_failed",
        message,
        {exc.field or "body": [message]},
    )


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, UnsupportedMediaType):
        return error_response(
            request,
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON, with the header Content-Type: application/json.",
        )
    if isinstance(cause, UnacceptableText):
        return _on_unacceptable_text(request, cause)
    if isinstance(cause, RequestDataTooBig):
        return _on_too_big(request, cause)
    if cause is not None:
        return error_response(
            request,
            HTTPStatus.BAD_REQUEST,
            "malformed_json",
            "The request body is not valid JSON (UTF-8).",
        )
    if isinstance(exc, InvalidToken):
        return error_response(request, HTTPStatus.UNAUTHORIZED, "invalid_token", exc.message)
    if isinstance(exc, AuthenticationError):
        return error_response(
            request,
            HTTPStatus.UNAUTHORIZED,
            "not_authenticated",
            "Sign in, or send a personal API token as 'Authorization: Bearer amt_…'.",
        )
    if isinstance(exc, CsrfFailed):
        return error_response(request, HTTPStatus.FORBIDDEN, "csrf_failed", exc.message)
    if isinstance(exc, AuthorizationError):
        return error_response(request, HTTPStatus.FORBIDDEN, "permission_denied", exc.message)
    status = HTTPStatus(exc.status_code)
    return error_response(request, status, status.phrase.lower().replace(" ", "_"), exc.message)


def _on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(
        request,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "payload_too_large",
        f"The request body is larger than the limit of {limit // 1024} KB ({limit} bytes).",
    )


def _on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    message = str(exc) if isinstance(exc, Http404) and exc.args else ""
    return error_response(
        request, HTTPStatus.NOT_FOUND, "not_found", message or "There is nothing at this address."
    )


def _on_permission_denied(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(
        request, HTTPStatus.FORBIDDEN, "permission_denied", str(exc) or "This is not allowed."
    )


def _on_suspicious(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(
        request, HTTPStatus.BAD_REQUEST, "bad_request", "The request could not be understood."
    )


def _on_rate_limited(
    request: HttpRequest, exc: RateLimited | TestMailRateLimited | ConfirmationRateLimited
) -> HttpResponse:
    response = error_response(request, HTTPStatus.TOO_MANY_REQUESTS, "rate_limited", str(exc))
    response["Retry-After"] = str(max(1, exc.retry_after_seconds))
    return response


def _domain_failure(
    status: HTTPStatus, code: str
) -> Callable[[HttpRequest, Exception], HttpResponse]:
    def handler(request: HttpRequest, exc: Exception) -> HttpResponse:
        message = str(exc) or str(getattr(exc, "message", "")) or status.phrase
        return error_response(request, status, code, message)

    return handler


def _on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API request failed: %s %s", request.method, request.path)
    return error_response(
        request,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "server_error",
        "The server could not finish this request. It has been logged; try again shortly.",
    )


HANDLERS: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
    (Exception, _on_unexpected),
    (RequestValidationError, _on_request_validation),
    (ValidationError, _on_validation),
    (UnacceptableText, _on_unacceptable_text),
    (HttpError, _on_http_error),
    (RequestDataTooBig, _on_too_big),
    (SuspiciousOperation, _on_suspicious),
    (Http404, _on_not_found),
    (PermissionDenied, _on_permission_denied),
    (RateLimited, _on_rate_limited),
    (TestMailRateLimited, _on_rate_limited),
    (ConfirmationRateLimited, _on_rate_limited),
    (MailNotVerified, _domain_failure(HTTPStatus.CONFLICT, "mail_not_verified")),
    (ForgotPasswordDisabled, _domain_failure(HTTPStatus.NOT_FOUND, "forgot_password_disabled")),
    (InvalidResetLink, _domain_failure(HTTPStatus.BAD_REQUEST, "invalid_reset_link")),
    (
        InvalidConfirmationCode,
        _domain_failure(HTTPStatus.BAD_REQUEST, "invalid_confirmation_code"),
    ),
]
for exception_class, handler in HANDLERS:
    api.add_exception_handler(exception_class, handler)


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
    raise Http404("There is no API operation at this address.")


api.add_router("", _fallback)  # Last: the routes above are tried first.
