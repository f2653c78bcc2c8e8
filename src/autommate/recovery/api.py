"""The JSON API of Forgot Password: the switch (administrators) and the reset (anyone)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, QueryDict
from django.utils import translation
from ninja import Router, Status

from autommate.accounts.devices import DEVICE_COOKIE
from autommate.api.conventions import caller, form_errors, responses
from autommate.client_address import client_address

from . import services
from .forms import ForgotPasswordForm, ForgotPasswordSettingsForm
from .schemas import (
    ForgotPasswordIn,
    ForgotPasswordOut,
    ResetConfirmIn,
    ResetRequestIn,
    ResetRequestOut,
)
from .selectors import forgot_password_settings_get, forgot_password_state

router = Router()


@router.get(
    "/forgot-password",
    response=responses({200: ForgotPasswordOut}),
    summary="Read the Forgot Password settings",
)
def forgot_password_read(request: HttpRequest) -> dict[str, Any]:
    return forgot_password_state()


@router.put(
    "/forgot-password",
    response=responses({200: ForgotPasswordOut}, HTTPStatus.CONFLICT),
    summary="Switch Forgot Password on or off",
)
def forgot_password_save(request: HttpRequest, payload: ForgotPasswordIn) -> dict[str, Any]:
    """Save the switch and the lifetimes of reset links and invitations. Enabling is refused
    with `409 mail_not_verified` until the delivery of a test mail has been confirmed for the
    saved mail settings. Switching off voids every reset link users asked for, for good, and
    drops the reset mails still queued; invitations and links administrators sent stay."""
    current = forgot_password_settings_get()
    lifetime = payload.link_lifetime_minutes
    form = ForgotPasswordSettingsForm(
        data={
            "enabled": payload.enabled,
            "link_lifetime_minutes": current.link_lifetime_minutes
            if lifetime is None
            else lifetime,
            "invitation_lifetime_days": current.invitation_lifetime_days
            if payload.invitation_lifetime_days is None
            else payload.invitation_lifetime_days,
        },
        instance=forgot_password_settings_get(),
    )
    if not form.is_valid():
        raise form_errors(form)
    services.forgot_password_configure(
        enabled=form.cleaned_data["enabled"],
        link_lifetime_minutes=form.cleaned_data["link_lifetime_minutes"],
        invitation_lifetime_days=form.cleaned_data["invitation_lifetime_days"],
        actor=caller(request),
        client_address=client_address(request),
    )
    return forgot_password_state()


@router.post(
    "/password-reset/request",
    auth=None,
    response=responses(
        {202: ResetRequestOut}, HTTPStatus.NOT_FOUND, HTTPStatus.TOO_MANY_REQUESTS, public=True
    ),
    summary="Ask for a reset email",
)
def password_reset_request(request: HttpRequest, payload: ResetRequestIn) -> Status[dict[str, str]]:
    """Ask for a reset email for one address. The answer is the same `202` whether or not the
    address has an account; `404 forgot_password_disabled` while the feature is off; `429` with
    `Retry-After` when too many requests came for the address or from the client. The mail is
    in the user's own Language, or else in the language of the request's `Accept-Language`."""
    services.forgot_password_ensure_enabled(requesting=True)
    data = QueryDict(mutable=True)
    data["email"] = payload.email
    form = ForgotPasswordForm(data=data)
    if not form.is_valid():
        raise form_errors(form)
    services.reset_request(
        address=form.cleaned_data["email"],
        client_address=client_address(request),
        device_cookie=request.COOKIES.get(DEVICE_COOKIE, ""),
        language=translation.get_language() or "",
    )
    return Status(HTTPStatus.ACCEPTED, {"message": str(services.SENT_MESSAGE)})


@router.post(
    "/password-reset/confirm",
    auth=None,
    response=responses(
        {204: None}, HTTPStatus.NOT_FOUND, HTTPStatus.TOO_MANY_REQUESTS, public=True
    ),
    summary="Set a new password with a reset token",
)
def password_reset_confirm(request: HttpRequest, payload: ResetConfirmIn) -> Status[None]:
    """Set a new password with the token of a reset link: `204`, or `400` with every message of
    the password policy in `fields.new_password`, or `400 invalid_reset_link` for a used,
    expired or unknown token, or `404 forgot_password_disabled` while the feature is off
    (switching it off voids every link issued before)."""
    address = client_address(request)
    services.link_open(token=payload.token, client_address=address)
    services.reset_complete(
        token=payload.token, password=payload.new_password, client_address=address
    )
    return Status(HTTPStatus.NO_CONTENT, None)
