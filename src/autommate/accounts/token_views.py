"""The personal API tokens page (/account/tokens/): create, list and revoke your own tokens."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from http import HTTPStatus
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from autommate.client_address import client_address
from autommate.forms import add_form_errors

from . import tokens
from .models import User


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=tokens.NAME_MAX_CHARS,
        help_text=gettext_lazy(
            "What the token is for, such as the script or pipeline that uses it."
        ),
    )
    expires = forms.DateField(
        label=gettext_lazy("Expires"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy(
            "Optional. The token stops working at the start of this day (UTC). "
            "Empty: it works until you revoke it."
        ),
    )

    def clean_expires(self) -> date | None:
        day: date | None = self.cleaned_data.get("expires")
        if day is not None and day <= timezone.now().date():
            raise forms.ValidationError(gettext("Choose a day after today, or leave it empty."))
        return day


def _page(
    request: HttpRequest,
    form: ApiTokenForm,
    *,
    secret: str = "",
    status: int = HTTPStatus.OK,
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    context: dict[str, Any] = {
        "form": form,
        "secret": secret,
        "tokens": tokens.api_tokens_of(user),
        "prefix": tokens.PREFIX,
    }
    response = render(request, "accounts/tokens.html", context, status=status)
    # The secret is in this page once; no cache may keep it.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        day = form.cleaned_data["expires"]
        try:
            token, secret = tokens.api_token_create(
                user=request.user,  # type: ignore[arg-type]
                name=form.cleaned_data["name"],
                expires_at=datetime.combine(day, time.min, tzinfo=UTC) if day else None,
                client_address=client_address(request),
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            # Shown in this response rather than after a redirect, so the secret is never
            # stored anywhere, not even in the session.
            messages.success(
                request, gettext("Token %(name)s has been created.") % {"name": token.name}
            )
            return _page(request, ApiTokenForm(), secret=secret)
    return _page(request, form, status=HTTPStatus.BAD_REQUEST)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = tokens.api_tokens_of(request.user).filter(pk=pk).first()  # type: ignore[arg-type]
    if token is None:
        raise Http404
    tokens.api_token_revoke(
        token=token,
        actor=request.user,  # type: ignore[arg-type]
        client_address=client_address(request),
    )
    messages.success(request, gettext("Token %(name)s has been revoked.") % {"name": token.name})
    return redirect("api-tokens")
