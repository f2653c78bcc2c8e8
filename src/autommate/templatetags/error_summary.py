"""The error summary: every form error on a page, gathered for the top of <main>.

The layout reads the forms in the template context, so no view has to pass its errors twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms, template
from django.template.context import Context

register = template.Library()


@dataclass(frozen=True)
class SummaryError:
    """One message of the summary, the field it is about, and the id its link moves focus to."""

    message: str
    field_id: str
    label: str = ""


def _forms_in(context: Context) -> list[forms.BaseForm]:
    found: dict[int, forms.BaseForm] = {}
    values: list[object] = list(context.flatten().values())
    for value in values:
        if isinstance(value, forms.BaseForm):
            found.setdefault(id(value), value)
    return list(found.values())


def _first_visible_field_id(form: forms.BaseForm) -> str:
    for bound_field in form.visible_fields():
        if bound_field.id_for_label:
            return str(bound_field.id_for_label)
    return ""


def _errors_of(form: forms.BaseForm) -> list[SummaryError]:
    # An error that belongs to no visible field links to the form's first field, as the
    # GOV.UK Design System does for an error about a whole group of fields.
    first_field_id = _first_visible_field_id(form)
    summary = [SummaryError(str(message), first_field_id) for message in form.non_field_errors()]
    for bound_field in form:
        if bound_field.is_hidden:
            summary.extend(SummaryError(str(m), first_field_id) for m in bound_field.errors)
            continue
        field_id = str(bound_field.id_for_label or first_field_id)
        # Named by its field, so that two fields' "This field is required." read apart.
        label = str(bound_field.label or "")
        summary.extend(SummaryError(str(m), field_id, label) for m in bound_field.errors)
    return summary


@register.simple_tag(takes_context=True)
def page_errors(context: Context) -> list[SummaryError]:
    """Return the errors of every bound form on the page, in the order of their fields."""
    errors: list[SummaryError] = []
    for form in _forms_in(context):
        # Only a form its view has validated: reading `errors` would validate the others now.
        if form.is_bound and getattr(form, "_errors", None):
            errors.extend(_errors_of(form))
    return errors
