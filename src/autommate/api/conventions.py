"""What every JSON API endpoint shares: the error body, the documented failures, paging.

The routers of each domain import from here, and `autommate.api.errors` turns exceptions into the
error body; keeping both apart from `autommate.api.site` lets the routers be imported on their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import AfterValidator, Field

from autommate.api.ninja_setup import share_response_models

if TYPE_CHECKING:
    from autommate.accounts.models import User

# Before any router defines an operation: they all import this module.
share_response_models()

# Every limit below keeps numbers where SQLite and PostgreSQL can hold them.
PAGE_MAX = 1_000_000
PAGE_SIZE_MAX = 100
PAGE_SIZE_DEFAULT = 50
ID_MAX = 2**63 - 1


class ErrorOut(Schema):
    """Every failure: a stable `code` for programs, a `message` for people, and per-field
    messages in `fields` (empty when the failure is not about one field)."""

    code: str = Field(examples=["validation_failed"])
    message: str
    fields: dict[str, list[str]] = Field(default_factory=dict)


# Failures any authenticated operation may answer with.
COMMON_FAILURES = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
)
# Failures of operations nobody needs to sign in for.
PUBLIC_FAILURES = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
)


def responses(
    success: dict[int, Any],
    *extra: HTTPStatus,
    public: bool = False,
) -> dict[int, Any]:
    """Return an operation's documented responses: its successes and every failure it has."""
    documented: dict[int, Any] = dict(success)
    for status in (*(PUBLIC_FAILURES if public else COMMON_FAILURES), *extra):
        documented[int(status)] = ErrorOut
    return documented


class PageParams(Schema):
    page: int = Field(1, ge=1, le=PAGE_MAX, description="The page, from 1.")
    page_size: int = Field(PAGE_SIZE_DEFAULT, ge=1, le=PAGE_SIZE_MAX, description="Items per page.")


class PageOut(Schema):
    count: int = Field(description="How many items match, on all pages.")
    page: int
    page_size: int
    pages: int = Field(description="How many pages there are (0 when nothing matches).")


def page_of[M: Model](queryset: QuerySet[M], params: PageParams) -> dict[str, Any]:
    """Return one page of `queryset` as the fields of a PageOut (plus `items`)."""
    count = queryset.count()
    start = (params.page - 1) * params.page_size
    items = list(queryset[start : start + params.page_size]) if start < count else []
    return {
        "count": count,
        "page": params.page,
        "page_size": params.page_size,
        "pages": -(-count // params.page_size),
        "items": items,
    }


def _in_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(_("This time is outside the years 1 to 9999 once read as UTC.")) from None


# Every time the API reads: ISO 8601, without a zone read as UTC, and kept in UTC (PostgreSQL
# refuses offsets beyond ±16 hours, which ISO 8601 allows).
Moment = Annotated[datetime, AfterValidator(_in_utc)]


def caller(request: HttpRequest) -> User:
    """Return the user an authenticated API request acts as."""
    user = getattr(request, "auth", None)
    # By the configured model, so that the API's conventions depend on no domain.
    if not isinstance(user, get_user_model()):
        raise TypeError("caller() needs an operation with authentication.")
    return user


def form_errors(form: forms.BaseForm) -> ValidationError:
    """Return a bound form's errors as one ValidationError, field by field."""
    return ValidationError(form.errors.as_data())
