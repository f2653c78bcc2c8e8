from __future__ import annotations

from http import HTTPStatus

from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from autommate.accounts.permissions import admin_required

from .models import Kind, State
from .selectors import message_list, queue_status
from .services import WORKER_SEEN_WITHIN_SECONDS


@admin_required
def mail_log(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    state = request.GET.get("state", "")
    messages = message_list(
        kind=kind if kind in Kind.values else None,
        state=state if state in State.values else None,
    )
    page = Paginator(messages, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "delivery/mail_log.html",
        {
            "page": page,
            "status": queue_status(),
            "kinds": Kind.choices,
            "states": State.choices,
            "kind": kind,
            "state": state,
        },
    )


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Answer while the process lives."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Check the database and report the queue; not ready when mail waits and no worker runs."""
    try:
        connection.ensure_connection()
        status = queue_status()
    except DatabaseError:
        return JsonResponse(
            {"status": "not ready", "reason": "The database cannot be reached."},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    seen = status["worker_last_seen_seconds"]
    worker_missing = seen is None or seen > WORKER_SEEN_WITHIN_SECONDS
    if status["waiting"] and worker_missing:
        return JsonResponse(
            {
                "status": "not ready",
                "reason": "Mail is waiting and no worker has been seen for a minute.",
                **status,
            },
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    return JsonResponse({"status": "ready", **status})
