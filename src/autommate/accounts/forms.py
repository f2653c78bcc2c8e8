from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from autommate.client_address import client_address
from autommate.errors import DomainError

from .devices import DEVICE_COOKIE
from .models import Role, User
from .signin import sign_in_attempt


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=settings.PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean(self) -> dict[str, Any]:
        """Sign in with what was typed, once both fields are valid; show a refusal as the form's."""
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email and password:
            client = client_address(self.request) if self.request is not None else "0.0.0.0"  # noqa: S104 - unknown client, not a bind
            cookies = self.request.COOKIES if self.request is not None else {}
            try:
                self.user_cache = sign_in_attempt(
                    email=email,
                    password=password,
                    client_address=client,
                    device_cookie=cookies.get(DEVICE_COOKIE, ""),
                    request=self.request,
                )
            except DomainError as error:
                raise forms.ValidationError(error.message, code=error.code) from None
        return self.cleaned_data


class UserForm(forms.ModelForm):
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        max_length=settings.PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Optional. Without one, the user sets a first password through the invitation "
            "(or Forgot Password)."
        ),
    )
    send_invitation = forms.BooleanField(
        label=_("Send invitation"),
        required=False,
        initial=True,
        help_text=_(
            "Mail the user a link to set their password. Sent only when no password is given."
        ),
    )

    class Meta:
        model = User
        fields = ["email", "full_name", "role", "is_active", "language"]
        widgets = {"role": forms.Select(choices=Role.choices)}
        help_texts = {
            "language": _(
                "The language of the user's pages and of every mail to them. Browser language: "
                "their pages follow their browser, and invitations and links sent by "
                "administrators are in English."
            )
        }

    def __init__(self, *args: Any, with_password: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_password:
            del self.fields["password"]
            del self.fields["send_invitation"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password"):
            # A user with a password has nothing to set: an invitation would only void it.
            cleaned["send_invitation"] = False
        return cleaned

    def validate_unique(self) -> None:
        """Uniqueness is the service's rule (case-insensitive); do not check it twice."""


class PasswordForm(forms.Form):
    """A new password typed twice, checked against the whole policy."""

    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        max_length=settings.PASSWORD_MAX_LENGTH + 1,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html,
    )
    new_password2 = forms.CharField(
        label=_("Confirm new password"),
        strip=False,
        max_length=settings.PASSWORD_MAX_LENGTH + 1,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_new_password2(self) -> str:
        first = self.cleaned_data.get("new_password1")
        second = str(self.cleaned_data["new_password2"])
        if first and first != second:
            raise forms.ValidationError(_("The two passwords do not match."), code="mismatch")
        return second

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("new_password2")
        if password:
            try:
                password_validation.validate_password(password, self.user)
            except forms.ValidationError as error:
                self.add_error("new_password1", error)
        return cleaned


class PasswordChangeForm(PasswordForm):
    """The current password, then a new one typed twice: a signed-in user's own change."""

    current_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        max_length=settings.PASSWORD_MAX_LENGTH + 1,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["current_password", "new_password1", "new_password2"]


class AccountForm(forms.ModelForm):
    """What a user may change about themselves on /account/."""

    class Meta:
        model = User
        fields = ["full_name", "language"]
        help_texts = {
            "language": _(
                "The language of your pages and of every mail to you. Browser language: the "
                "pages follow the language your browser asks for."
            )
        }
