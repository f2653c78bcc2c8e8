from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def mail_settings(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


test_mail = confirm_delivery = mail_settings


def confirm_delivery_link(request: HttpRequest, token: str) -> HttpResponse:
    raise NotImplementedError
