from __future__ import annotations

from urllib.parse import unquote, urlsplit

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from autommate.client_address import client_address
from autommate.errors import DomainError, wait_in_words
from autommate.forms import add_form_errors
from autommate.languages import datetime_in_words

from . import selectors, services
from .devices import remember_device
from .forms import AccountForm, PasswordChangeForm, SignInForm, UserForm
from .models import User
from .permissions import admin_required, signed_in_user


class SignInView(LoginView):
    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_redirect_url(self, request: HttpRequest | None = None) -> str:
        """Return the safe `next` target, or "" (home) for one that signs in or out again.

        Sending a signed-in user back to this page would loop; sending anyone to the sign-out
        page would answer 405 (it takes only a POST).
        """
        target = super().get_redirect_url(request)
        return "" if target and _signs_in_or_out(target) else target

    def form_valid(self, form: SignInForm) -> HttpResponse:  # type: ignore[override]
        """Sign in, and mark the browser as one that has signed in to the account."""
        response = super().form_valid(form)
        remember_device(self.request, response, address=form.get_user().email)
        return response


def _signs_in_or_out(target: str) -> bool:
    path = unquote(urlsplit(target).path)
    for candidate in (path, path + "/"):
        try:
            return resolve(candidate).url_name in {"login", "logout"}
        except Resolver404:
            continue
    return False


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.success(request, _("You have been logged out."))
    return redirect("login")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/home.html")


@admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:254]
    users = selectors.user_list(search=query)
    page = Paginator(users, 50).get_page(request.GET.get("page"))
    statuses = selectors.user_statuses(users=page.object_list)
    rows = [(user, statuses[user.pk]) for user in page.object_list]
    return render(request, "accounts/user_list.html", {"page": page, "rows": rows, "query": query})


@admin_required
def user_add(request: HttpRequest) -> HttpResponse:
    form = UserForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        invite = data.pop("send_invitation", False)
        try:
            user = services.user_create(
                **data, actor=signed_in_user(request), client_address=client_address(request)
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            if invite:
                _invite(request, user, added=True)
            else:
                messages.success(
                    request, _("User %(email)s has been added.") % {"email": user.email}
                )
            return redirect("user-list")
    return render(request, "accounts/user_form.html", {"form": form, "title": _("Add user")})


@admin_required
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    locked = selectors.user_sign_in_locked_seconds(user=user)
    form = UserForm(request.POST or None, instance=User.objects.get(pk=pk), with_password=False)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                user=user,
                actor=signed_in_user(request),
                client_address=client_address(request),
                **form.cleaned_data,
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            messages.success(request, _("User %(email)s has been saved.") % {"email": user.email})
            return redirect("user-list")
    return render(
        request,
        "accounts/user_form.html",
        {
            "form": form,
            "title": _("Edit %(email)s") % {"email": user.email},
            "edited": user,
            "locked_for": wait_in_words(locked) if locked else "",
            "status": selectors.user_status(user=user),
        },
    )


def _invite(request: HttpRequest, user: User, *, added: bool = False) -> bool:
    """Send the invitation and say how it went; return whether it was sent."""
    email = {"email": user.email}
    try:
        services.user_invite(
            user=user, actor=signed_in_user(request), client_address=client_address(request)
        )
    except DomainError as error:
        reason = {**email, "reason": error.message}
        if added:
            messages.warning(
                request,
                _("User %(email)s has been added, but no invitation was sent: %(reason)s") % reason,
            )
        else:
            messages.error(request, _("No invitation was sent: %(reason)s") % reason)
        return False
    if added:
        sent = _("User %(email)s has been added and an invitation has been sent to them.") % email
    else:
        sent = _("An invitation has been sent to %(email)s.") % email
    expires = selectors.user_status(user=user).invitation_expires_at
    if expires:
        # Translators: the moment an invitation stops working, such as "5 March 2026, 14:30 UTC".
        until = _("It works until %(when)s.") % {"when": datetime_in_words(expires)}
        sent = f"{sent} {until}"
    messages.success(request, sent)
    return True


def _back(request: HttpRequest, user: User) -> HttpResponse:
    if request.POST.get("back") == "list":
        return redirect("user-list")
    return redirect("user-edit", pk=user.pk)


@admin_required
@require_POST
def user_invite(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    _invite(request, user)
    return _back(request, user)


@admin_required
@require_POST
def user_send_reset(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    try:
        services.user_reset_link_send(
            user=user, actor=signed_in_user(request), client_address=client_address(request)
        )
    except DomainError as error:
        messages.error(request, _("No reset link was sent: %(reason)s") % {"reason": error.message})
    else:
        messages.success(
            request,
            _("A password reset link has been sent to %(email)s, to that address only.")
            % {"email": user.email},
        )
    return _back(request, user)


@admin_required
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    services.user_unlock(
        user=user, actor=signed_in_user(request), client_address=client_address(request)
    )
    messages.success(
        request, _("Logging in to %(email)s has been unlocked.") % {"email": user.email}
    )
    return redirect("user-edit", pk=user.pk)


@admin_required
@require_POST
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    try:
        services.user_deactivate(
            user=user, actor=signed_in_user(request), client_address=client_address(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("User %(email)s has been deactivated.") % {"email": user.email})
    return HttpResponseRedirect("/users/")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own account: name, email (read-only) and Change password."""
    user = signed_in_user(request)
    posted = request.POST if request.method == "POST" else None
    which = posted.get("form") if posted is not None else None
    # The form writes into its instance as it validates: a copy, so the service sees the change.
    profile = AccountForm(
        posted if which == "profile" else None, instance=User.objects.get(pk=user.pk)
    )
    password = PasswordChangeForm(user, posted if which == "password" else None)
    if which == "profile" and profile.is_valid():
        try:
            services.user_update(
                user=user,
                actor=user,
                client_address=client_address(request),
                full_name=profile.cleaned_data["full_name"],
                language=profile.cleaned_data["language"],
            )
        except ValidationError as error:
            add_form_errors(profile, error)
        else:
            # Said in the language just chosen, as every page from now on.
            translation.activate(user.language or translation.get_language_from_request(request))
            request.LANGUAGE_CODE = translation.get_language()
            messages.success(request, _("Your account has been saved."))
            return redirect("account")
    if which == "password" and password.is_valid():
        try:
            services.password_change(
                user=user,
                current_password=password.cleaned_data["current_password"],
                new_password=password.cleaned_data["new_password1"],
                client_address=client_address(request),
            )
        except ValidationError as error:
            add_form_errors(password, error)
        else:
            update_session_auth_hash(request, user)
            messages.success(
                request,
                _(
                    "Your password has been changed. Every other session of your account has "
                    "ended; this one stays logged in."
                ),
            )
            return redirect("account")
    status = 400 if which in {"profile", "password"} else 200
    return render(
        request,
        "accounts/account.html",
        {"profile": profile, "password": password},
        status=status,
    )
