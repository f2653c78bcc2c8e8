"""A URL prefix whose URL configuration is imported on its first use, not at start-up.

The JSON API (django-ninja and pydantic) costs each web worker about 16 MiB; a worker that only
serves pages never needs it. Django imports an included URL configuration the first time any
URL is reversed, because it collects every name below the root; a namespaced include needs none
of its names for that, so this resolver leaves them uncollected until a path under its prefix
is resolved or a name in its namespace is reversed.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLResolver
from django.urls.resolvers import RoutePattern


class DeferredResolver(URLResolver):
    """`include()` of the module `urlconf_name` under `route`, in a namespace, imported late."""

    def __init__(self, route: str, urlconf_name: str, *, app_name: str, namespace: str) -> None:
        super().__init__(
            RoutePattern(route, is_endpoint=False),
            urlconf_name,
            app_name=app_name,
            namespace=namespace,
        )
        self._wanted = False

    @property
    def loaded(self) -> bool:
        """Say whether the URL configuration has been imported."""
        return "url_patterns" in self.__dict__

    def _populate(self) -> None:
        # The root resolver populates every child while collecting its own names; a namespaced
        # child contributes only its namespace, which needs nothing imported.
        if self._wanted:
            super()._populate()

    def _want(self) -> None:
        if not self._wanted:
            self._wanted = True
            super()._populate()

    def resolve(self, path: str) -> Any:
        if self.pattern.match(path):
            self._want()
        return super().resolve(path)

    def _reverse_with_prefix(
        self, lookup_view: Any, _prefix: str, *args: Any, **kwargs: Any
    ) -> Any:
        self._want()
        return super()._reverse_with_prefix(  # type: ignore[misc]
            lookup_view, _prefix, *args, **kwargs
        )
