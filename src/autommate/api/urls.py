"""The API's URL configuration, loaded with django-ninja on the first request under `/api/v1/`."""

from __future__ import annotations

from .ninja_setup import prepare_ninja

prepare_ninja()

from .site import api_urls  # noqa: E402 - django-ninja is imported here, once prepared.

urlpatterns, app_name, namespace = api_urls()
