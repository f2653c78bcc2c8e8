"""The JSON API of the mail server settings: read, save, test, confirm delivery."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router

from autommate.api.conventions import caller, form_errors, responses
from autommate.client_address import client_address

from . import services
from .forms import ConfirmDeliveryForm, MailServerForm, TestMailForm
from .models import EDITABLE_FIELDS, SECRET_FIELDS, MailServerSettings
from .schemas import ConfirmIn, MailServerIn, MailServerOut, TestMailIn, TestMailOut
from .selectors import mail_server_get

router = Router()


def _form_data(values: MailServerIn, saved: MailServerSettings) -> dict[str, Any]:
    data = values.model_dump(mode="json", exclude=set(SECRET_FIELDS))
    if values.allow_insecure_login is None:
        # Absent for clients older than the field: what worked for them keeps working.
        data["allow_insecure_login"] = saved.allow_insecure_login
    if values.ehlo_name is None:
        data["ehlo_name"] = saved.ehlo_name
    # Null clears a limit; absent (a client older than the fields) keeps the saved one.
    for name in ("send_rate_per_minute", "max_connections"):
        if name not in values.model_fields_set:
            data[name] = getattr(saved, name)
    # A secret left empty keeps the saved one; the form and the service decide whether it may.
    return data | {name: getattr(values, name) or "" for name in SECRET_FIELDS}


def _saved_values(saved: MailServerSettings) -> dict[str, Any]:
    return {name: getattr(saved, name) for name in EDITABLE_FIELDS} | dict.fromkeys(
        SECRET_FIELDS, ""
    )


def _prefixed(error: ValidationError, prefix: str) -> ValidationError:
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError(
        {f"{prefix}{field}": messages for field, messages in error.message_dict.items()}
    )


@router.get("", response=responses({200: MailServerOut}), summary="Read the mail server settings")
def mail_server_read(request: HttpRequest) -> MailServerSettings:
    """Return the saved settings. The password and the other secrets are never returned: a
    `…_set` flag says whether each is saved."""
    return mail_server_get()


@router.put("", response=responses({200: MailServerOut}), summary="Save the mail server settings")
def mail_server_save(request: HttpRequest, payload: MailServerIn) -> MailServerSettings:
    """Save the settings. Changed settings are unverified until a test mail's delivery is
    confirmed for them.

    A secret (`password`, `client_secret`, `client_certificate`, `service_account_key`) left
    empty keeps the saved one while it would still go where it was saved for; the secrets of the
    other authentication methods are removed."""
    saved = mail_server_get()
    form = MailServerForm(data=_form_data(payload, saved), instance=mail_server_get(), saved=saved)
    if not form.is_valid():
        raise form_errors(form)
    return services.mail_server_save(
        values=form.cleaned_data,
        actor=caller(request),
        client_address=client_address(request),
    )


@router.post(
    "/test",
    response=responses({200: TestMailOut}, HTTPStatus.TOO_MANY_REQUESTS),
    summary="Send a test mail",
)
def mail_server_test(request: HttpRequest, payload: TestMailIn) -> dict[str, Any]:
    """Send a test mail and report each step of the conversation with the server, as the mail
    server page does. The mail carries the code for `POST /mail-server/confirm`. A failed
    test is still `200`: `ok` and the steps say what failed, why and what to change."""
    saved = mail_server_get()
    if payload.settings is None and not saved.is_configured:
        raise ValidationError(
            _("No mail server is saved yet: save the settings first, or send them in 'settings'.")
        )
    data = _form_data(payload.settings, saved) if payload.settings else _saved_values(saved)
    form = MailServerForm(data=data, instance=mail_server_get(), saved=saved)
    recipient_form = TestMailForm(data={"test_recipient": payload.recipient})
    if not recipient_form.is_valid():
        raise ValidationError({"recipient": recipient_form.errors["test_recipient"]})
    if not form.is_valid():
        raise _prefixed(form_errors(form), "settings.")
    try:
        result = services.mail_server_test(
            values=form.cleaned_data,
            recipient=recipient_form.cleaned_data["test_recipient"],
            actor=caller(request),
            client_address=client_address(request),
        )
    except ValidationError as error:
        raise _prefixed(error, "settings.") from None
    return {
        **result.diagnosis.as_dict(),
        "recipient": result.recipient,
        "tested_saved_settings": result.tested_saved_settings,
        "code_issued": result.code_issued,
    }


@router.post("/confirm", response=responses({200: MailServerOut}), summary="Confirm delivery")
def mail_server_confirm(request: HttpRequest, payload: ConfirmIn) -> MailServerSettings:
    """Mark the saved settings verified with the code from a received test mail."""
    form = ConfirmDeliveryForm(data={"code": payload.code})
    if not form.is_valid():
        raise form_errors(form)
    return services.mail_server_confirm(
        code=form.cleaned_data["code"],
        actor=caller(request),
        client_address=client_address(request),
    )
