from __future__ import annotations

from http import HTTPStatus

from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from autommate.accounts.models import User
from autommate.accounts.permissions import admin_required
from autommate.accounts.tokens import InvalidToken, api_token_authenticate, bearer_secret
from autommate.api.responses import error_response
from autommate.client_address import client_address
from autommate.metrics import CONTENT_TYPE_LATEST, exposition, scrape_allowed

from .models import Kind, State
from .selectors import (
    QueueCollector,
    message_list,
    queue_counters_visible,
    queue_status,
    readiness,
    sending_state,
)


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
            "sending": sending_state(),
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
    """Say whether the service is ready, and why not; the queue's counters only to those entitled.

    Administrators (signed in, or with an administrator's API token) and requests from
    `AUTOMMATE_MONITORING_NETWORKS` get the counters; anyone else only the status and its reason.
    """
    try:
        token_user = _bearer_user(request)
        user = token_user or request.user
        entitled = queue_counters_visible(user=user, client_address=client_address(request))
    except InvalidToken as error:
        return error_response(HTTPStatus.UNAUTHORIZED, "invalid_token", error.message)
    except DatabaseError:
        # Who is asking cannot be told without the database; the report says it is unreachable.
        token_user, entitled = None, False
    if token_user is not None and not token_user.is_admin:
        return error_response(
            HTTPStatus.FORBIDDEN,
            "permission_denied",
            _(
                "Only an administrator's API token shows the mail queue; "
                "send no Authorization header for the readiness alone."
            ),
        )
    report = readiness(with_queue=entitled)
    # Degraded still serves every page: only "not ready" takes the instance out of rotation.
    status = HTTPStatus.SERVICE_UNAVAILABLE if report["status"] == "not ready" else HTTPStatus.OK
    return JsonResponse(report, status=status)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus metrics, for the monitoring networks or `AUTOMMATE_METRICS_TOKEN` only.

    Anyone else learns nothing, not even that the page exists (404); a wrong token gets a bare 403.
    """
    allowed = scrape_allowed(
        client_address=client_address(request),
        authorization=request.headers.get("Authorization"),
    )
    if allowed is None:
        raise Http404
    if not allowed:
        return HttpResponse("Forbidden\n", status=HTTPStatus.FORBIDDEN, content_type="text/plain")
    return HttpResponse(exposition([QueueCollector()]), content_type=CONTENT_TYPE_LATEST)


def _bearer_user(request: HttpRequest) -> User | None:
    """Return the user of the request's API token (None without one); InvalidToken for a bad one."""
    header = request.headers.get("Authorization")
    return None if header is None else api_token_authenticate(bearer_secret(header))
