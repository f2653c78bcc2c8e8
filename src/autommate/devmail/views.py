"""The development mail catcher's pages: what `autommate devmail` has received."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.csp import CSP
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_safe

from autommate.client_address import client_address, client_ip

from . import store

# A caught message is untrusted HTML: it runs in a sandbox with no scripts, forms, plugins or
# network access, keeping only the inline styles that mail HTML relies on.
MESSAGE_HTML_CSP: dict[str, Any] = {
    "sandbox": True,
    "default-src": [CSP.NONE],
    "style-src": [CSP.UNSAFE_INLINE],
    "img-src": ["data:"],
    "form-action": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.SELF],
}

NOT_ON_THIS_MACHINE = (
    "The development mail catcher shows its mail only to a browser on the machine that runs it. "
    "Open it in a browser there, at 127.0.0.1 or localhost."
)


def debug_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer 404 unless DEBUG is on (even if mounted by mistake), and 403 to another machine.

    The caught mail holds live reset links and test mail codes; a development server listening
    on a network address must not hand them to everyone on that network.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DEBUG:
            raise Http404("The mail catcher pages exist only in debug mode.")
        # A developer's tool, in English only: its pages say so in <html lang> and
        # Content-Language, whatever the browser asks for.
        translation.activate("en")
        if not _on_this_machine(client_address(request)):
            return render(
                request,
                "error.html",
                {
                    "title": "Not allowed",
                    "message": NOT_ON_THIS_MACHINE,
                },
                status=HTTPStatus.FORBIDDEN,
            )
        return view(request, *args, **kwargs)

    return wrapped


def _on_this_machine(address: str) -> bool:
    ip = client_ip(address)
    return ip is not None and ip.is_loopback


def _caught_or_404(message_id: str) -> store.CaughtMessage:
    caught = store.get_message(message_id)
    if caught is None:
        raise Http404("No such message.")
    return caught


@debug_only
@require_safe
def message_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "devmail/message_list.html",
        {
            "caught": store.list_messages(),
            "smtp_address": f"{settings.DEV_MAIL_HOST}:{settings.DEV_MAIL_PORT}",
        },
    )


@debug_only
@require_safe
def message_detail(request: HttpRequest, message_id: str) -> HttpResponse:
    return render(request, "devmail/message_detail.html", {"caught": _caught_or_404(message_id)})


@debug_only
@require_safe
@xframe_options_sameorigin
@csp_override(MESSAGE_HTML_CSP)
def message_html(request: HttpRequest, message_id: str) -> HttpResponse:
    html = _caught_or_404(message_id).html
    if html is None:
        raise Http404("This message has no HTML part.")
    return HttpResponse(html, content_type="text/html; charset=utf-8")
