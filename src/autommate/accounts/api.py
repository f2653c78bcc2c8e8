"""The JSON API of accounts: user management (administrators) and the caller's own API tokens."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from autommate.api.auth import session_only
from autommate.api.conventions import (
    ID_MAX,
    PageParams,
    caller,
    form_errors,
    page_of,
    responses,
)
from autommate.client_address import client_address
from autommate.errors import DomainError

from . import selectors, services, tokens
from .forms import UserForm
from .models import ApiToken, User
from .schemas import (
    ApiTokenCreated,
    ApiTokenIn,
    ApiTokenOut,
    ApiTokenPage,
    LinkSentOut,
    UserCreated,
    UserIn,
    UserOut,
    UserPage,
    UserPatch,
    UserQuery,
)

users_router = Router()
tokens_router = Router()


def _valid(form: UserForm) -> dict[str, Any]:
    if not form.is_valid():
        raise form_errors(form)
    return dict(form.cleaned_data)


def _user(user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise Http404(_("There is no user with this id."))
    return user


UserId = Path(..., ge=1, le=ID_MAX)


@users_router.get("", response=responses({200: UserPage}), summary="List users")
def user_list(request: HttpRequest, query: Query[UserQuery]) -> dict[str, Any]:
    """Return users by email, with an optional search in email and full name."""
    users = selectors.user_list(search=query.q.strip(), role=query.role, is_active=query.is_active)
    page = page_of(users, query)
    page["items"] = selectors.users_with_statuses(users=page["items"])
    return page


@users_router.post("", response=responses({201: UserCreated}), summary="Add a user")
def user_create(request: HttpRequest, payload: UserIn) -> Status[User]:
    """Add a user; without a password the user is sent an invitation to set one (unless
    `send_invitation` is false). The user is added even when the invitation cannot be sent:
    `invitation_sent` is then false and `invitation_not_sent_reason` says why."""
    invite = not payload.password if payload.send_invitation is None else payload.send_invitation
    form = UserForm(
        data={
            **payload.model_dump(),
            "password": payload.password or "",
            "send_invitation": invite,
            "language": payload.language or "",
        }
    )
    data = _valid(form)
    invite = data.pop("send_invitation", False)
    actor, address = caller(request), client_address(request)
    user = services.user_create(**data, actor=actor, client_address=address)
    reason = None
    if invite:
        try:
            services.user_invite(user=user, actor=actor, client_address=address)
        except DomainError as error:
            reason = error.message
    # Read by UserCreated beside the user's own fields.
    user.invitation_sent = bool(invite and reason is None)  # type: ignore[attr-defined]
    user.invitation_not_sent_reason = reason  # type: ignore[attr-defined]
    return Status(HTTPStatus.CREATED, user)


@users_router.get(
    "/{int:user_id}",
    response=responses({200: UserOut}, HTTPStatus.NOT_FOUND),
    summary="Read a user",
)
def user_read(request: HttpRequest, user_id: int = UserId) -> User:
    return _user(user_id)


@users_router.patch(
    "/{int:user_id}",
    response=responses({200: UserOut}, HTTPStatus.NOT_FOUND),
    summary="Change a user",
)
def user_update(request: HttpRequest, payload: UserPatch, user_id: int = UserId) -> User:
    """Change the given fields (absent or null fields stay as they are, but a null `language`
    makes it automatic)."""
    user = _user(user_id)
    current = {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "is_active": user.is_active,
        "language": user.language,
    }
    changes = payload.model_dump(exclude_none=True)
    if "language" in payload.model_fields_set:
        changes["language"] = payload.language or ""  # null: automatic
    form = UserForm(
        data={**current, **changes}, instance=User.objects.get(pk=user.pk), with_password=False
    )
    return services.user_update(
        user=user, actor=caller(request), client_address=client_address(request), **_valid(form)
    )


@users_router.post(
    "/{int:user_id}/deactivate",
    response=responses({200: UserOut}, HTTPStatus.NOT_FOUND),
    summary="Deactivate a user",
)
def user_deactivate(request: HttpRequest, user_id: int = UserId) -> User:
    """Deactivate a user: they cannot sign in, and their API tokens work no more, until an
    administrator activates them again."""
    return services.user_deactivate(
        user=_user(user_id), actor=caller(request), client_address=client_address(request)
    )


@users_router.post(
    "/{int:user_id}/unlock",
    response=responses({200: UserOut}, HTTPStatus.NOT_FOUND),
    summary="Unlock a user",
)
def user_unlock(request: HttpRequest, user_id: int = UserId) -> User:
    """Lift the locks strangers can put on a user: the sign-in locks of failed sign-ins, and the
    limit of reset mails to their address."""
    return services.user_unlock(
        user=_user(user_id), actor=caller(request), client_address=client_address(request)
    )


@users_router.post(
    "/{int:user_id}/invitation",
    response=responses(
        {202: LinkSentOut},
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.TOO_MANY_REQUESTS,
    ),
    summary="Send a user an invitation",
)
def user_invite(request: HttpRequest, user_id: int = UserId) -> Status[dict[str, Any]]:
    """Mail an active user without a password an invitation to set one, replacing any sent
    before; it works whether or not Forgot Password is on. `409 mail_not_verified` while the
    mail settings are not verified, `409 cannot_send_link` for a deactivated user or one who
    has a password, `429` with `Retry-After` beyond the limit of mails to the address."""
    user = _user(user_id)
    services.user_invite(user=user, actor=caller(request), client_address=client_address(request))
    return Status(
        HTTPStatus.ACCEPTED,
        {
            "message": _("An invitation has been sent to %(email)s.") % {"email": user.email},
            "user": user,
        },
    )


@users_router.post(
    "/{int:user_id}/password-reset",
    response=responses(
        {202: LinkSentOut},
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.TOO_MANY_REQUESTS,
    ),
    summary="Send a user a password reset link",
)
def user_send_reset(request: HttpRequest, user_id: int = UserId) -> Status[dict[str, Any]]:
    """Mail a user a reset link, to their stored address only (the link is never in the
    answer); it works whether or not Forgot Password is on. Limited like the user's own
    requests: `429` with `Retry-After`. `409 mail_not_verified` while the mail settings are not
    verified, `409 cannot_send_link` for a deactivated user."""
    user = _user(user_id)
    services.user_reset_link_send(
        user=user, actor=caller(request), client_address=client_address(request)
    )
    return Status(
        HTTPStatus.ACCEPTED,
        {
            "message": _("A password reset link has been sent to %(email)s.")
            % {"email": user.email},
            "user": user,
        },
    )


# -- The caller's own API tokens ---------------------------------------------------------------


def _own_token(request: HttpRequest, token_id: int) -> ApiToken:
    token = tokens.api_tokens_of(caller(request)).filter(pk=token_id).first()
    if token is None:
        raise Http404(_("You have no API token with this id."))
    return token


TokenId = Path(..., ge=1, le=ID_MAX)


@tokens_router.get("", response=responses({200: ApiTokenPage}), summary="List your API tokens")
def api_token_list(request: HttpRequest, query: Query[PageParams]) -> dict[str, Any]:
    """Return your tokens, newest first, revoked and expired ones included."""
    return page_of(tokens.api_tokens_of(caller(request)), query)


@tokens_router.post(
    "",
    auth=session_only,
    response=responses({201: ApiTokenCreated}),
    summary="Create an API token",
)
def api_token_create(request: HttpRequest, payload: ApiTokenIn) -> Status[dict[str, Any]]:
    """Create a token for yourself. The response holds its secret, which is never shown again.

    Only from a signed-in session (the cookie and its CSRF token): a request with an API token
    is `403 session_required`, so that no token makes tokens that outlive its revocation."""
    token, secret = tokens.api_token_create(
        user=caller(request),
        name=payload.name,
        expires_at=payload.expires_at,
        client_address=client_address(request),
    )
    return Status(HTTPStatus.CREATED, {"token": token, "secret": secret})


@tokens_router.get(
    "/{int:token_id}",
    response=responses({200: ApiTokenOut}, HTTPStatus.NOT_FOUND),
    summary="Read one of your API tokens",
)
def api_token_read(request: HttpRequest, token_id: int = TokenId) -> ApiToken:
    return _own_token(request, token_id)


@tokens_router.delete(
    "/{int:token_id}",
    auth=session_only,
    response=responses({204: None}, HTTPStatus.NOT_FOUND),
    summary="Revoke one of your API tokens",
)
def api_token_revoke(request: HttpRequest, token_id: int = TokenId) -> Status[None]:
    """Revoke a token from now on; revoking it again changes nothing.

    Only from a signed-in session (the cookie and its CSRF token): a request with an API token
    is `403 session_required`."""
    tokens.api_token_revoke(
        token=_own_token(request, token_id),
        actor=caller(request),
        client_address=client_address(request),
    )
    return Status(HTTPStatus.NO_CONTENT, None)
