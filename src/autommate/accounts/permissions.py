from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from .models import User


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let administrators in; send others to sign in, or refuse signed-in non-administrators."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not getattr(request.user, "is_admin", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def signed_in_user(request: HttpRequest) -> User:
    """Return the signed-in user of a request that a permission decorator has let through."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
