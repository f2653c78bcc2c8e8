from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from autommate.accounts.permissions import admin_required, signed_in_user
from autommate.client_address import client_address
from autommate.forms import add_form_errors

from . import services
from .forms import ConfirmDeliveryForm, MailServerForm, TestMailForm
from .presets import presets_as_dicts
from .selectors import mail_server_get, unreadable_secret_messages

CONFIRMED_MESSAGE = (
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
    context: dict[str, Any] = {
        "form": form,
        "test_form": test_form or TestMailForm(),
        "confirm_form": confirm_form or ConfirmDeliveryForm(),
        "result": result,
        "saved": saved,
        "unreadable_secrets": unreadable_secret_messages(saved),
        "presets": presets_as_dicts(),
    }
    response = render(request, "mailserver/settings.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


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
                messages.success(request, "Mail server settings saved.")
            else:
                messages.warning(
                    request,
                    "Mail server settings saved. They are not verified: send a test mail and "
                    "confirm its delivery before enabling Forgot Password.",
                )
            return redirect("mail-settings")
    return _page(request, form=form, status=HTTPStatus.BAD_REQUEST)


@admin_required
@require_POST
def test_mail(request: HttpRequest) -> HttpResponse:
    saved = mail_server_get()
    form = MailServerForm(request.POST, request.FILES, instance=mail_server_get(), saved=saved)
    test_form = TestMailForm(request.POST)
    if not (form.is_valid() & test_form.is_valid()):
        return _page(request, form=form, test_form=test_form, status=HTTPStatus.BAD_REQUEST)
    try:
        result = services.mail_server_test(
            values=form.cleaned_data,
            recipient=test_form.cleaned_data["test_recipient"],
            actor=signed_in_user(request),
            client_address=client_address(request),
        )
    except ValidationError as error:
        add_form_errors(form, error)
        return _page(request, form=form, test_form=test_form, status=HTTPStatus.BAD_REQUEST)
    return _page(request, form=form, test_form=test_form, result=result)


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
