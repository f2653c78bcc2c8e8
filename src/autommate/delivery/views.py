from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def mail_log(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


healthz = readyz = mail_log
