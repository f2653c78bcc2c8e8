from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from autommate.accounts.permissions import admin_required, signed_in_user
from autommate.client_address import client_address
from autommate.forms import add_form_errors

from . import services
from .forms import ConfirmDeliveryForm, MailServerForm, TestMailForm
from .presets import presets_as_dicts
from .selectors import mail_server_get, unreadable_secret_messages, waiting_test_mail

CONFIRMED_MESSAGE = gettext_lazy(
    "Delivery confirmed: the mail server settings are verified. You can now enable Forgot Password."
)


def _page(
    request: HttpRequest,
    *,
    form: MailServerForm,
    test_form: TestMailForm | None = None,
    confirm_form: ConfirmDeliveryForm | None = None,
    result: services.TestMailResult | None = None,
    status: int = HTTPStatus.OK,
) -> HttpResponse:
    saved = mail_server_get()
    waiting = waiting_test_mail(saved)
    confirming = confirm_form is not None and confirm_form.is_bound
    context: dict[str, Any] = {
        "form": form,
        "test_form": test_form or TestMailForm(),
        "confirm_form": confirm_form or ConfirmDeliveryForm(),
        "result": result,
        "saved": saved,
        "unreadable_secrets": unreadable_secret_messages(saved),
        "presets": presets_as_dicts(),
        "waiting": waiting,
        # Confirm delivery shows while a test mail waits for it, and with the error of a code
        # just refused.
        "show_confirm": waiting is not None or confirming,
        "step": _current_step(saved, waiting),
    }
    response = render(request, "mailserver/settings.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _current_step(saved: Any, waiting: Any) -> str:
    """The step the administrator is at: settings, test, confirm, or done."""
    if saved.is_verified:
        return "done"
    if waiting is not None:
        return "confirm"
    return "test" if saved.is_configured else "settings"


@admin_required
@require_http_methods(["GET", "HEAD", "POST"])
def mail_settings(request: HttpRequest) -> HttpResponse:
    saved = mail_server_get()
    if request.method != "POST":
        return _page(request, form=MailServerForm(instance=saved, saved=saved))
    form = MailServerForm(request.POST, request.FILES, instance=mail_server_get(), saved=saved)
    if form.is_valid():
        try:
            updated = services.mail_server_save(
                values=form.cleaned_data,
                actor=signed_in_user(request),
                client_address=client_address(request),
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            if updated.is_verified:
                messages.success(request, _("Mail server settings saved."))
            else:
                messages.warning(
                    request,
                    _(
                        "Mail server settings saved. They are not verified: send a test mail and "
                        "confirm its delivery before enabling Forgot Password."
                    ),
                )
            return redirect("mail-settings")
    return _page(request, form=form, status=HTTPStatus.BAD_REQUEST)


@admin_required
@require_POST
def test_mail(request: HttpRequest) -> HttpResponse:
    """Save the settings posted with the test (if any), then test the saved settings.

    The page's script sends the settings form along with the test recipient; without it, the
    test form carries only the recipient and the saved settings are tested.
    """
    saved = mail_server_get()
    test_form = TestMailForm(request.POST)
    with_settings = "host" in request.POST
    if with_settings:
        form = MailServerForm(request.POST, request.FILES, instance=saved, saved=saved)
        settings_valid = form.is_valid()
    else:
        form = MailServerForm(instance=saved, saved=saved)
        settings_valid = True
    if not (settings_valid & test_form.is_valid()):
        return _page(request, form=form, test_form=test_form, status=HTTPStatus.BAD_REQUEST)
    try:
        outcome = services.mail_server_save_and_test(
            values=form.cleaned_data if with_settings else None,
            recipient=test_form.cleaned_data["test_recipient"],
            actor=signed_in_user(request),
            client_address=client_address(request),
        )
    except ValidationError as error:
        add_form_errors(form if with_settings else test_form, error)
        return _page(request, form=form, test_form=test_form, status=HTTPStatus.BAD_REQUEST)
    if outcome.saved_changes:
        messages.success(
            request,
            _(
                "Saved and tested: the mail server settings on this page were saved, then the test "
                "mail was sent with them."
            ),
        )
    saved = outcome.mail_server
    return _page(
        request,
        form=MailServerForm(instance=saved, saved=saved),
        test_form=test_form,
        result=outcome.result,
    )


@admin_required
@require_POST
def confirm_delivery(request: HttpRequest) -> HttpResponse:
    confirm_form = ConfirmDeliveryForm(request.POST)
    saved = mail_server_get()
    if confirm_form.is_valid():
        try:
            services.mail_server_confirm(
                code=confirm_form.cleaned_data["code"],
                actor=signed_in_user(request),
                client_address=client_address(request),
            )
        except services.InvalidConfirmationCode as error:
            confirm_form.add_error(error.field, error.message)
        else:
            messages.success(request, CONFIRMED_MESSAGE)
            return redirect("mail-settings")
    return _page(
        request,
        form=MailServerForm(instance=saved, saved=saved),
        confirm_form=confirm_form,
        status=HTTPStatus.BAD_REQUEST,
    )


@admin_required
@require_http_methods(["GET", "HEAD"])
def confirm_delivery_link(request: HttpRequest, token: str) -> HttpResponse:
    try:
        services.mail_server_confirm(
            link_token=token[:128],
            actor=signed_in_user(request),
            client_address=client_address(request),
        )
    except services.InvalidConfirmationCode as error:
        messages.error(request, error.message)
    else:
        messages.success(request, CONFIRMED_MESSAGE)
    return redirect("mail-settings")
