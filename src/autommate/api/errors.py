"""Every failure of the API as one JSON body: `{"code", "message", "fields"}`.

One handler maps whatever an operation raised — a parsing failure, an authentication failure, a
refusal of a domain rule (`autommate.errors.DomainError`), a validation error, an unknown
route, a bug — to a status, a stable code and words for people. Validation failures are
`400 validation_failed`, never `422`, so that a form and the API refuse the same input with the
same status.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as RequestValidationError

from autommate.accounts.tokens import InvalidToken
from autommate.errors import DomainError

from .auth import CsrfFailed
from .parsing import UnacceptableText, UnsupportedMediaType
from .responses import error_response

logger = logging.getLogger(__name__)

SERVER_ERROR_MESSAGE = gettext_lazy(
    "The server could not finish this request. It has been logged; try again shortly."
)


class ApiFailure(Exception):
    """A failure already put in the API's words: status, code, message and field messages."""

    def __init__(
        self,
        status: HTTPStatus,
        code: str,
        message: str,
        fields: dict[str, list[str]] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.retry_after = retry_after
        super().__init__(message)


def api_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Answer any exception an API operation raised with the JSON error body."""
    failure = as_api_failure(exc)
    if failure.status == HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.exception("API request failed: %s %s", request.method, request.path, exc_info=exc)
    return error_response(
        failure.status,
        failure.code,
        failure.message,
        failure.fields,
        retry_after=failure.retry_after,
    )


def as_api_failure(exc: BaseException) -> ApiFailure:
    """Put `exc` in the API's words."""
    if isinstance(exc, ApiFailure):
        return exc
    if isinstance(exc, InvalidToken):
        return ApiFailure(HTTPStatus.UNAUTHORIZED, "invalid_token", exc.message)
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else {}
        return ApiFailure(exc.status, exc.code, exc.message, fields, retry_after=exc.retry_after)
    if isinstance(exc, RequestValidationError):
        return _request_invalid(exc)
    if isinstance(exc, ValidationError):
        return _invalid(exc)
    if isinstance(exc, HttpError):
        return _http_error(exc)
    if isinstance(exc, UnacceptableText):
        message = _("Text must not contain NUL characters or unpaired surrogates.")
        return ApiFailure(
            HTTPStatus.BAD_REQUEST, "validation_failed", message, {exc.field or "body": [message]}
        )
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return ApiFailure(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "payload_too_large",
            _("The request body is larger than the limit of %(kb)d KB (%(bytes)d bytes).")
            % {"kb": limit // 1024, "bytes": limit},
        )
    if isinstance(exc, SuspiciousOperation):
        return ApiFailure(
            HTTPStatus.BAD_REQUEST, "bad_request", _("The request could not be understood.")
        )
    if isinstance(exc, Http404):
        message = str(exc) if exc.args else ""
        return ApiFailure(
            HTTPStatus.NOT_FOUND, "not_found", message or _("There is nothing at this address.")
        )
    if isinstance(exc, PermissionDenied):
        return ApiFailure(
            HTTPStatus.FORBIDDEN, "permission_denied", str(exc) or _("This is not allowed.")
        )
    return ApiFailure(HTTPStatus.INTERNAL_SERVER_ERROR, "server_error", str(SERVER_ERROR_MESSAGE))


def _request_invalid(exc: RequestValidationError) -> ApiFailure:
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        source, *parts = [str(part) for part in error.get("loc", ())]
        if source == "body" and parts:
            parts = parts[1:]  # The name of the view's body parameter means nothing outside.
        fields.setdefault(".".join(parts) or source or "body", []).append(str(error["msg"]))
    return ApiFailure(
        HTTPStatus.BAD_REQUEST,
        "validation_failed",
        _("Some values are not valid: %(fields)s.") % {"fields": ", ".join(fields)},
        fields,
    )


def _invalid(exc: ValidationError) -> ApiFailure:
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
    message = " ".join(general) or _("Some values are not valid: %(fields)s.") % {
        "fields": ", ".join(fields)
    }
    return ApiFailure(HTTPStatus.BAD_REQUEST, "validation_failed", message, fields)


def _http_error(exc: HttpError) -> ApiFailure:
    cause = exc.__cause__
    if isinstance(cause, UnsupportedMediaType):
        return ApiFailure(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            _("Send the body as JSON, with the header Content-Type: application/json."),
        )
    if isinstance(cause, UnacceptableText | RequestDataTooBig):
        return as_api_failure(cause)
    if cause is not None:
        return ApiFailure(
            HTTPStatus.BAD_REQUEST,
            "malformed_json",
            _("The request body is not valid JSON (UTF-8)."),
        )
    if isinstance(exc, AuthenticationError):
        return ApiFailure(
            HTTPStatus.UNAUTHORIZED,
            "not_authenticated",
            _("Log in, or send a personal API token as 'Authorization: Bearer amt_…'."),
        )
    if isinstance(exc, CsrfFailed):
        return ApiFailure(HTTPStatus.FORBIDDEN, "csrf_failed", exc.message)
    if isinstance(exc, AuthorizationError):
        return ApiFailure(HTTPStatus.FORBIDDEN, "permission_denied", exc.message)
    status = HTTPStatus(exc.status_code)
    return ApiFailure(status, status.phrase.lower().replace(" ", "_"), exc.message)
