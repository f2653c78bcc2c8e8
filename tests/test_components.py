"""The template components the pages share: the pager and the mail server's badge."""

from __future__ import annotations

import pytest
from django.core.paginator import Paginator
from django.template.loader import render_to_string

from autommate.mailserver.models import MailServerSettings


def pager(page_number: int, filters: str) -> str:
    page = Paginator(range(120), 50).get_page(page_number)
    return render_to_string("components/pager.html", {"page": page, "filters": filters})


def test_pager_links_keep_the_filters_escaped() -> None:
    html = pager(2, 'kind=a<b&state="x"&')

    assert '<a href="?kind=a&lt;b&amp;state=&quot;x&quot;&amp;page=1">Previous</a>' in html
    assert "<span>Page 2 of 3</span>" in html
    assert '<a href="?kind=a&lt;b&amp;state=&quot;x&quot;&amp;page=3">Next</a>' in html


@pytest.mark.parametrize(("number", "previous", "following"), [(1, False, True), (3, True, False)])
def test_pager_offers_only_the_pages_there_are(
    number: int, previous: bool, following: bool
) -> None:
    html = pager(number, "")

    assert (">Previous</a>" in html) is previous
    assert (">Next</a>" in html) is following


def test_pager_is_absent_when_everything_fits_one_page() -> None:
    page = Paginator(range(3), 50).get_page(1)

    assert "pager" not in render_to_string("components/pager.html", {"page": page})


def _configured(*, verified: bool) -> MailServerSettings:
    mail_server = MailServerSettings(
        pk=1, host="smtp.example.org", port=587, sender_email="noreply@example.org"
    )
    if verified:
        mail_server.verified_fingerprint = mail_server.fingerprint()
    return mail_server


@pytest.mark.parametrize(
    ("mail_server", "badge"),
    [
        (MailServerSettings(pk=1), '<span class="badge badge-bad">Not configured</span>'),
        (_configured(verified=False), '<span class="badge badge-warn">Not verified</span>'),
        (_configured(verified=True), '<span class="badge badge-ok">Verified</span>'),
    ],
)
def test_mail_status_badge_says_where_the_mail_server_stands(
    mail_server: MailServerSettings, badge: str
) -> None:
    html = render_to_string("components/mail_status.html", {"mail_server": mail_server})

    assert html.strip() == badge
