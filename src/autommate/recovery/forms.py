from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext, gettext_lazy

from .models import (
    INVITATION_LIFETIME_MAX_DAYS,
    INVITATION_LIFETIME_MIN_DAYS,
    LINK_LIFETIME_MAX_MINUTES,
    LINK_LIFETIME_MIN_MINUTES,
    ForgotPasswordSettings,
)

_SEPARATORS = set(",;\r\n")
ONE_ADDRESS = gettext_lazy("Enter exactly one email address.")


def _several_addresses(data: Any) -> bool:
    """Say whether form data carries more than one address.

    That is a repeated field, an array (`email[]`, `email[0]`), or a list separated by commas,
    semicolons or line breaks: a reset must go to one account's stored address, never to a list.
    """
    if not data:
        return False
    getlist = getattr(data, "getlist", None)
    values = getlist("email") if getlist is not None else [data.get("email")]
    if len(values) > 1 or any(key != "email" and str(key).startswith("email") for key in data):
        return True
    return any(_SEPARATORS & set(str(value)) for value in values if value is not None)


class ForgotPasswordForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.several = _several_addresses(self.data)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.several:
            # Whatever else is wrong with the value, the thing to say is that it holds several.
            self.errors.pop("email", None)
            self.add_error("email", forms.ValidationError(ONE_ADDRESS, code="one_address"))
        return cleaned


class ForgotPasswordSettingsForm(forms.ModelForm):
    class Meta:
        model = ForgotPasswordSettings
        fields = ["enabled", "link_lifetime_minutes", "invitation_lifetime_days"]
        widgets = {
            "link_lifetime_minutes": forms.NumberInput(
                attrs={"min": LINK_LIFETIME_MIN_MINUTES, "max": LINK_LIFETIME_MAX_MINUTES}
            ),
            "invitation_lifetime_days": forms.NumberInput(
                attrs={"min": INVITATION_LIFETIME_MIN_DAYS, "max": INVITATION_LIFETIME_MAX_DAYS}
            ),
        }
        help_texts = {
            "enabled": gettext_lazy(
                "Switching it off ends every reset under way: links already sent stop working "
                "for good, and reset mails still waiting are not sent."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The bounds go into the words in the reader's language, so these are written per form.
        self.fields["link_lifetime_minutes"].help_text = gettext(
            "How long a reset link works, from %(min)d to %(max)d minutes."
        ) % {"min": LINK_LIFETIME_MIN_MINUTES, "max": LINK_LIFETIME_MAX_MINUTES}
        self.fields["invitation_lifetime_days"].help_text = gettext(
            "How long an invitation to set a first password works, from %(min)d to %(max)d "
            "days. Invitations work whether or not Forgot Password is on."
        ) % {"min": INVITATION_LIFETIME_MIN_DAYS, "max": INVITATION_LIFETIME_MAX_DAYS}
        # Left out, the lifetime stays as it is: forms and scripts from before it keep working.
        self.fields["invitation_lifetime_days"].required = False

    def clean_invitation_lifetime_days(self) -> int:
        days = self.cleaned_data.get("invitation_lifetime_days")
        return self.instance.invitation_lifetime_days if days is None else int(days)
