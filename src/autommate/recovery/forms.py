from __future__ import annotations

from typing import Any

from django import forms

from .models import LINK_LIFETIME_MAX_MINUTES, LINK_LIFETIME_MIN_MINUTES, ForgotPasswordSettings

_SEPARATORS = set(",;\r\n")


class ForgotPasswordForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        getlist = getattr(self.data, "getlist", None)
        self.repeated = getlist is not None and len(getlist("email")) > 1

    def clean_email(self) -> str:
        raw = self.data.get("email", "")
        if self.repeated or _SEPARATORS & set(raw):
            raise forms.ValidationError("Enter exactly one email address.", code="one_address")
        return str(self.cleaned_data["email"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.repeated and "email" not in self.errors:
            self.add_error("email", "Enter exactly one email address.")
        return cleaned


class ForgotPasswordSettingsForm(forms.ModelForm):
    class Meta:
        model = ForgotPasswordSettings
        fields = ["enabled", "link_lifetime_minutes"]
        widgets = {
            "link_lifetime_minutes": forms.NumberInput(
                attrs={"min": LINK_LIFETIME_MIN_MINUTES, "max": LINK_LIFETIME_MAX_MINUTES}
            )
        }
        help_texts = {
            "link_lifetime_minutes": (
                f"How long a reset link works, from {LINK_LIFETIME_MIN_MINUTES} to "
                f"{LINK_LIFETIME_MAX_MINUTES} minutes."
            )
        }
