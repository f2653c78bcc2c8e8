from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def forgot_password(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


reset_password = forgot_password_settings = forgot_password


def reset_password_link(request: HttpRequest, token: str) -> HttpResponse:
    raise NotImplementedError
