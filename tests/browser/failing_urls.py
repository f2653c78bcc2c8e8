"""The product's URLs plus one that fails, to show the server error page in a real browser."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from autommate.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a fault that the server error page must not show")


urlpatterns = [path("fail/", fail), *urlpatterns]
