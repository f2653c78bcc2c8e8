"""The JSON API's URLs, imported on first use: checked, resolved and reversed as any others."""

from __future__ import annotations

from django.core.checks.urls import check_resolver
from django.urls import resolve, reverse

from autommate.deferred_urls import DeferredResolver
from autommate.urls import urlpatterns


def _api_resolver() -> DeferredResolver:
    (resolver,) = [pattern for pattern in urlpatterns if isinstance(pattern, DeferredResolver)]
    return resolver


def test_api_urls_pass_djangos_url_checks() -> None:
    assert check_resolver(_api_resolver()) == []


def test_api_urls_resolve_and_reverse_under_their_prefix() -> None:
    assert reverse("api-v1:openapi-json") == "/api/v1/openapi.json"
    assert resolve("/api/v1/users").namespace == "api-v1"
    assert _api_resolver().loaded
