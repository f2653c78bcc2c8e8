"""Who is calling the API: a personal API token, or the browser session with its CSRF token."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import AuthorizationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from autommate.accounts.models import User
from autommate.accounts.tokens import SessionRequired, api_token_authenticate, bearer_secret

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class CsrfFailed(HttpError):
    def __init__(self) -> None:
        super().__init__(
            HTTPStatus.FORBIDDEN,
            _(
                "The CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken "
                "header, or use a personal API token."
            ),
        )


class BearerTokenAuth(HttpBearer):
    """Authenticate API requests by `Authorization: Bearer <token>`.

    Without the header this gives way to the next authenticator (the browser session); with a
    header that is not a usable token it answers 401 at once rather than trying the session,
    so a script with a broken token never silently acts as whoever is signed in.
    """

    def __init__(self, *, admin_only: bool = False) -> None:
        self.admin_only = admin_only
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        value = request.headers.get(self.header)
        if value is None:
            return None
        return self.authenticate(request, bearer_secret(value))

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = api_token_authenticate(token)
        if self.admin_only and not user.is_admin:
            raise AuthorizationError(message=_("This needs an administrator's API token."))
        return user


class SessionAuth(APIKeyCookie):
    """Authenticate by the browser session; unsafe methods also need the CSRF token.

    With `tokens_refused`, the session is the only way in: a request that carries an
    Authorization header is refused with SessionRequired, even with a session cookie, since a
    script is then the caller.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, *, admin_only: bool = False, tokens_refused: bool = False) -> None:
        self.admin_only = admin_only
        self.tokens_refused = tokens_refused
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        if self.tokens_refused and request.headers.get("Authorization") is not None:
            raise SessionRequired
        user = request.user
        if not user.is_authenticated or not user.is_active:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise CsrfFailed
        return self.authenticate(request, None)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if self.admin_only and not getattr(request.user, "is_admin", False):
            raise AuthorizationError(message=_("This needs an administrator."))
        return request.user


signed_in = [BearerTokenAuth(), SessionAuth()]
# For what an API token must not do: create or revoke API tokens.
session_only = [SessionAuth(tokens_refused=True)]
administrators = [BearerTokenAuth(admin_only=True), SessionAuth(admin_only=True)]
