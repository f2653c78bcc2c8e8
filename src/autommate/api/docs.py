"""The API's documentation page: Swagger UI as django-ninja ships it, served from this origin.

The site's Content-Security-Policy allows scripts and styles from this origin only, and the page
has no inline script.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ninja
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from ninja import NinjaAPI
from ninja.openapi.docs import DocsBase

DOCS_ASSETS_DIR = Path(ninja.__file__).parent / "static" / "ninja"
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-init.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


class SelfHostedSwagger(DocsBase):
    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        swagger_settings = {
            "url": self.get_openapi_url(api, kwargs),
            "layout": "BaseLayout",
            "deepLinking": True,
            # The default validator is a badge loaded from swagger.io, another origin.
            "validatorUrl": None,
        }
        assets = {
            name.split(".")[0].replace("-", "_"): reverse(
                f"{api.urls_namespace}:docs-asset", args=[name]
            )
            for name in DOCS_ASSETS
        }
        return render(
            request,
            "api/docs.html",
            {"api": api, "swagger_settings": json.dumps(swagger_settings), "assets": assets},
        )


@cache_control(public=True, max_age=3600)
def docs_asset(request: HttpRequest, name: str) -> HttpResponseBase:
    if name not in DOCS_ASSETS:
        raise Http404
    return FileResponse((DOCS_ASSETS_DIR / name).open("rb"), content_type=DOCS_ASSETS[name])
