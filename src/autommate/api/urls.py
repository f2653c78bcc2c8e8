"""The API's URL configuration, loaded with django-ninja on the first request under `/api/v1/`."""

from __future__ import annotations

from .site import api_urls

urlpatterns, app_name, namespace = api_urls()
