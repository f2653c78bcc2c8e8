from __future__ import annotations

import smtplib
from http import HTTPStatus

import pytest
from django.http import Http404
from django.test import Client, RequestFactory

from autommate.devmail import store, views
from tests.devmail.conftest import Catcher
from tests.devmail.test_catcher import reset_mail


def test_caught_message_is_listed_and_shown(
    dev_pages: None, catcher: Catcher, client: Client
) -> None:
    with smtplib.SMTP(catcher.host, catcher.port, timeout=5) as smtp:
        smtp.send_message(reset_mail())
    [caught] = store.list_messages()

    listing = client.get("/dev/mail/")
    assert listing.status_code == HTTPStatus.OK
    body = listing.content.decode()
    assert "Reset your password" in body
    assert "mike@example.org" in body
    assert f'href="/dev/mail/{caught.id}/"' in body

    detail = client.get(f"/dev/mail/{caught.id}/")
    assert detail.status_code == HTTPStatus.OK
    page = detail.content.decode()
    assert "<h1>Reset your password</h1>" in page
    assert (
        '<a href="https://autommate.example/reset-password/abc123/" rel="noopener noreferrer">'
        in page
    )
    assert "javascript:" not in page
    assert "Open https://autommate.example/reset-password/abc123/ to continue." in page
    assert f'<iframe class="devmail-frame" sandbox src="/dev/mail/{caught.id}/html"' in page


def test_html_part_is_served_sandboxed_without_scripts(dev_pages: None, client: Client) -> None:
    message_id = store.save_message(
        reset_mail().as_bytes(), mail_from="noreply@example.org", rcpt_tos=["mike@example.org"]
    )

    response = client.get(f"/dev/mail/{message_id}/html")

    assert response.status_code == HTTPStatus.OK
    assert "Reset Password</a>" in response.content.decode()
    policy = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy
    assert not any(d.startswith("script-src") for d in policy)
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_message_without_html_part_has_no_html_page(dev_pages: None, client: Client) -> None:
    message_id = store.save_message(
        b"Subject: plain\r\n\r\nJust text.\r\n", mail_from="a@x", rcpt_tos=["b@x"]
    )

    assert client.get(f"/dev/mail/{message_id}/").status_code == HTTPStatus.OK
    assert client.get(f"/dev/mail/{message_id}/html").status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    "path",
    [
        "/dev/mail/../",
        "/dev/mail/..%2Fsecret_key/",
        "/dev/mail/..%2F..%2Fsecret_key/html",
        "/dev/mail/%2e%2e/html",
        "/dev/mail/20990101T000000000000-00000000/",
    ],
)
def test_unknown_or_traversing_ids_get_404(dev_pages: None, client: Client, path: str) -> None:
    (store._directory().parent / "secret_key.eml").write_text("Subject: secret\r\n\r\n.")

    assert client.get(path).status_code == HTTPStatus.NOT_FOUND


def test_traversing_id_is_refused_by_the_view_itself(dev_pages: None) -> None:
    request = RequestFactory().get("/")

    with pytest.raises(Http404):
        views.message_detail(request, "../secret_key")


def test_pages_are_not_mounted_without_debug(client: Client) -> None:
    message_id = store.save_message(b"Subject: x\r\n\r\n.\r\n", mail_from="a@x", rcpt_tos=["b@x"])

    assert client.get("/dev/mail/").status_code == HTTPStatus.NOT_FOUND
    assert client.get(f"/dev/mail/{message_id}/").status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("view", [views.message_detail, views.message_html])
def test_views_refuse_without_debug_even_when_mounted(view) -> None:
    message_id = store.save_message(
        reset_mail().as_bytes(), mail_from="a@x", rcpt_tos=["mike@example.org"]
    )
    request = RequestFactory().get("/")

    with pytest.raises(Http404):
        views.message_list(request)
    with pytest.raises(Http404):
        view(request, message_id)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_pages_answer_a_client_on_this_machine(dev_pages: None, address: str) -> None:
    message_id = store.save_message(
        reset_mail().as_bytes(), mail_from="a@x", rcpt_tos=["mike@example.org"]
    )
    client = Client(REMOTE_ADDR=address)

    assert client.get("/dev/mail/").status_code == HTTPStatus.OK
    assert client.get(f"/dev/mail/{message_id}/").status_code == HTTPStatus.OK


@pytest.mark.parametrize("address", ["192.168.1.20", "10.0.0.5", "203.0.113.7", "fe80::1"])
def test_pages_refuse_a_client_on_another_machine(dev_pages: None, address: str) -> None:
    message_id = store.save_message(
        reset_mail().as_bytes(), mail_from="a@x", rcpt_tos=["mike@example.org"]
    )
    client = Client(REMOTE_ADDR=address)

    for path in ["/dev/mail/", f"/dev/mail/{message_id}/", f"/dev/mail/{message_id}/html"]:
        response = client.get(path)
        assert response.status_code == HTTPStatus.FORBIDDEN, path
        page = response.content.decode()
        assert "only to a browser on the machine that runs it" in page
        assert "Reset your password" not in page


def test_behind_a_proxy_the_forwarded_client_must_be_on_this_machine(
    dev_pages: None, settings
) -> None:
    settings.TRUSTED_PROXIES = 1
    client = Client()  # The proxy itself runs on this machine.

    assert client.get("/dev/mail/", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 403
    assert client.get("/dev/mail/", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200


def test_the_pages_say_they_are_english_whatever_the_browser_asks_for(
    dev_pages: None, client: Client
) -> None:
    listing = client.get("/dev/mail/", headers={"accept-language": "tr"})

    assert listing.status_code == HTTPStatus.OK
    assert listing["Content-Language"] == "en"
    assert '<html lang="en">' in listing.content.decode()
