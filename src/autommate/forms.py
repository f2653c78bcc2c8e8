"""What the forms of every domain share."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


def add_form_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError on `form`: each message on its field, the rest on top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)
