from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from autommate.accounts.devices import DEVICE_COOKIE, remember_device
from autommate.accounts.forms import PasswordForm
from autommate.accounts.permissions import admin_required, signed_in_user
from autommate.client_address import client_address
from autommate.mailserver.selectors import mail_server_get

from . import alerts, services
from .forms import ForgotPasswordForm, ForgotPasswordSettingsForm
from .models import LinkKind
from .selectors import (
    forgot_password_enabled,
    forgot_password_settings_get,
    link_find_by_hash,
    mail_not_ready_reason,
)
from .services import SENT_MESSAGE

# The session keeps the hash of the link's token, never the token itself.
SESSION_TOKEN_KEY = "reset_password_token_hash"
# The address typed on Forgot Password, for the "Check your email" page: in a signed cookie sent
# to the Forgot Password pages only, so that it never appears in a URL (nor in logs, history or
# Referer headers), and a request from a browser without a session writes no session.
ADDRESS_COOKIE = "forgot_password_address"
ADDRESS_COOKIE_SALT = "autommate.recovery.check-email"
ADDRESS_COOKIE_MAX_AGE_SECONDS = 60 * 60
SET_MESSAGE = gettext_lazy(
    "Your password has been set. Log in with your email address and the new password."
)
CHANGED_MESSAGE = gettext_lazy(
    "Your password has been changed. Log in with your email address and the new password. "
    "Every session of your account has been logged out and its API tokens revoked."
)


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def forgot_password(request: HttpRequest) -> HttpResponse:
    form = ForgotPasswordForm(request.POST if request.method == "POST" else None)
    try:
        if request.method == "POST" and form.is_valid():
            # The service refuses while Forgot Password is off: one read of the switch.
            services.reset_request(
                address=form.cleaned_data["email"],
                client_address=client_address(request),
                device_cookie=request.COOKIES.get(DEVICE_COOKIE, ""),
                language=translation.get_language() or "",
            )
            messages.success(request, SENT_MESSAGE)
            response = redirect("forgot-password-sent")
            _remember_address(response, form.cleaned_data["email"])
            return _private(response)
        services.forgot_password_ensure_enabled(requesting=request.method == "POST")
    except services.ForgotPasswordDisabled:
        return _disabled(request)
    status = HTTPStatus.BAD_REQUEST if request.method == "POST" else HTTPStatus.OK
    return _private(render(request, "recovery/forgot_password.html", {"form": form}, status=status))


@never_cache
@require_http_methods(["GET", "HEAD"])
def forgot_password_sent(request: HttpRequest) -> HttpResponse:
    """Show "Check your email" for the address just typed, whether or not it has an account."""
    if not forgot_password_enabled():
        return _disabled(request)
    address = _remembered_address(request)
    if not address:
        return _private(redirect("forgot-password"))
    return _private(
        render(
            request,
            "recovery/check_email.html",
            {
                "address": address,
                "link_lifetime_minutes": forgot_password_settings_get().link_lifetime_minutes,
            },
        )
    )


def _remember_address(response: HttpResponse, address: str) -> None:
    response.set_cookie(
        ADDRESS_COOKIE,
        signing.dumps(address, salt=ADDRESS_COOKIE_SALT),
        max_age=ADDRESS_COOKIE_MAX_AGE_SECONDS,
        path=reverse("forgot-password"),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _remembered_address(request: HttpRequest) -> str:
    """Return the address this browser last asked a link for, or "" (none, expired, forged)."""
    try:
        address = signing.loads(
            request.COOKIES.get(ADDRESS_COOKIE, ""),
            salt=ADDRESS_COOKIE_SALT,
            max_age=ADDRESS_COOKIE_MAX_AGE_SECONDS,
        )
    except signing.BadSignature:
        return ""
    return address if isinstance(address, str) else ""


def _disabled(request: HttpRequest, *, from_link: bool = False) -> HttpResponse:
    if from_link:
        request.session.pop(SESSION_TOKEN_KEY, None)
    return _private(
        render(
            request,
            "recovery/disabled.html",
            {"from_link": from_link},
            status=HTTPStatus.NOT_FOUND,
        )
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def reset_password_link(request: HttpRequest, token: str) -> HttpResponse:
    """Move the token from the link into the session and redirect to a URL without it.

    Opening the link never uses it up: mail scanners open links too.
    """
    return _open_link(request, token, LinkKind.RESET)


@never_cache
@require_http_methods(["GET", "HEAD"])
def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    """Open an invitation as a reset link is opened: the token moves into the session."""
    return _open_link(request, token, LinkKind.INVITATION)


def _open_link(request: HttpRequest, token: str, kind: LinkKind) -> HttpResponse:
    try:
        link = services.link_open(token=token, client_address=client_address(request), kind=kind)
    except services.ForgotPasswordDisabled:
        return _disabled(request, from_link=True)
    except services.InvalidResetLink as error:
        return _invalid(request, error, kind)
    request.session[SESSION_TOKEN_KEY] = link.token_hash
    return _private(redirect("invitation" if kind == LinkKind.INVITATION else "reset-password"))


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def reset_password(request: HttpRequest) -> HttpResponse:
    return _set_password(request, LinkKind.RESET)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def invitation(request: HttpRequest) -> HttpResponse:
    """Let an invited user choose a first password, then send them to log in with it."""
    return _set_password(request, LinkKind.INVITATION)


def _set_password(request: HttpRequest, kind: LinkKind) -> HttpResponse:
    digest = request.session.get(SESSION_TOKEN_KEY, "")
    link = link_find_by_hash(digest=digest)
    if link is not None and link.kind != kind:
        link = None
    needs_switch = link.needs_forgot_password if link is not None else kind == LinkKind.RESET
    if needs_switch and not forgot_password_enabled():
        return _disabled(request, from_link=True)
    invalid = (
        services.InvalidInvitation if kind == LinkKind.INVITATION else services.InvalidResetLink
    )
    if link is None:
        return _invalid(request, invalid(), kind)
    form = PasswordForm(link.user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.reset_complete(
                token_digest=digest,
                password=form.cleaned_data["new_password1"],
                client_address=client_address(request),
                kind=kind,
            )
        except services.ForgotPasswordDisabled:
            return _disabled(request, from_link=True)
        except services.InvalidResetLink as error:
            return _invalid(request, error, kind)
        request.session.flush()
        messages.success(request, SET_MESSAGE if kind == LinkKind.INVITATION else CHANGED_MESSAGE)
        response = redirect("login")
        # Completing the reset proves control of the account as a sign-in does: this browser
        # may sign in with the new password even while strangers have the account locked.
        remember_device(request, response, address=user.email)
        return _private(response)
    status = HTTPStatus.BAD_REQUEST if request.method == "POST" else HTTPStatus.OK
    template = (
        "recovery/invitation.html"
        if kind == LinkKind.INVITATION
        else "recovery/reset_password.html"
    )
    return _private(
        render(request, template, {"form": form, "email": link.user.email}, status=status)
    )


def _invalid(
    request: HttpRequest, error: services.InvalidResetLink, kind: LinkKind
) -> HttpResponse:
    request.session.pop(SESSION_TOKEN_KEY, None)
    return _private(
        render(
            request,
            "recovery/invalid_link.html",
            {"message": error.message, "invitation": kind == LinkKind.INVITATION},
            status=HTTPStatus.NOT_FOUND,
        )
    )


@admin_required
def forgot_password_settings(request: HttpRequest) -> HttpResponse:
    current = forgot_password_settings_get()
    form = ForgotPasswordSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.forgot_password_configure(
                enabled=form.cleaned_data["enabled"],
                link_lifetime_minutes=form.cleaned_data["link_lifetime_minutes"],
                invitation_lifetime_days=form.cleaned_data["invitation_lifetime_days"],
                actor=signed_in_user(request),
                client_address=client_address(request),
            )
        except services.MailNotVerified as error:
            form.add_error(error.field, error.message)
            # Show the switch as it stays (off) beside the reason, not as it was asked for.
            form.data = {key: value for key, value in form.data.items() if key != "enabled"}
        else:
            messages.success(request, gettext("Forgot Password settings saved."))
            return redirect("recovery-settings")
    return render(
        request,
        "recovery/settings.html",
        {
            "form": form,
            "mail_server": mail_server_get(),
            "not_ready_reason": mail_not_ready_reason(),
            "mail_failing": alerts.mail_failing(),
            "current": forgot_password_settings_get(),
        },
        status=HTTPStatus.BAD_REQUEST if form.errors else HTTPStatus.OK,
    )
