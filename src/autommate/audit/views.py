from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from autommate.accounts.permissions import admin_required

from .models import Action
from .selectors import audit_event_list


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    action = request.GET.get("action", "")
    events = audit_event_list(action=action if action in Action.values else None)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/audit_log.html",
        {"page": page, "actions": Action.choices, "action": action},
    )
