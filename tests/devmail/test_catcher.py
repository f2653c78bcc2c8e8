from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from autommate.devmail import store
from tests.devmail.conftest import Catcher


def reset_mail() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Autom Mate <noreply@example.org>"
    message["To"] = "mike@example.org"
    message["Subject"] = "Reset your password"
    message.set_content("Open https://autommate.example/reset-password/abc123/ to continue.")
    message.add_alternative(
        '<p><a href="https://autommate.example/reset-password/abc123/">Reset Password</a></p>'
        '<p><a href="javascript:alert(1)">not a web link</a></p>',
        subtype="html",
    )
    return message


def test_catcher_stores_a_message_sent_over_smtp(catcher: Catcher) -> None:
    with smtplib.SMTP(catcher.host, catcher.port, timeout=5) as client:
        client.send_message(reset_mail(), to_addrs=["mike@example.org", "hidden@example.org"])

    [caught] = store.list_messages()
    assert caught.subject == "Reset your password"
    assert caught.sender == "Autom Mate <noreply@example.org>"
    assert caught.recipients == "mike@example.org"
    full = store.get_message(caught.id)
    assert full is not None
    assert ("X-Original-To", "mike@example.org, hidden@example.org") in full.headers
    assert ("Return-Path", "<noreply@example.org>") in full.headers


def test_catcher_accepts_any_credentials_without_tls(catcher: Catcher) -> None:
    with smtplib.SMTP(catcher.host, catcher.port, timeout=5) as client:
        client.login("anyone", "any password")
        client.send_message(reset_mail())

    assert len(store.list_messages()) == 1


def test_messages_are_listed_newest_first() -> None:
    first = store.save_message(b"Subject: first\r\n\r\nbody\r\n", mail_from="a@x", rcpt_tos=["b@x"])
    second = store.save_message(
        b"Subject: second\r\n\r\nbody\r\n", mail_from="a@x", rcpt_tos=["b@x"]
    )

    assert [m.id for m in store.list_messages()] == [second, first]


def test_only_the_newest_messages_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "KEEP_MESSAGES", 3)
    ids = [
        store.save_message(f"Subject: {n}\r\n\r\n.\r\n".encode(), mail_from="", rcpt_tos=["b@x"])
        for n in range(5)
    ]

    assert [m.id for m in store.list_messages()] == ids[:1:-1]


def test_links_are_web_links_from_both_parts_each_once() -> None:
    message_id = store.save_message(
        reset_mail().as_bytes().replace(b"to continue.", b"or https://autommate.example/login/."),
        mail_from="noreply@example.org",
        rcpt_tos=["mike@example.org"],
    )
    caught = store.get_message(message_id)

    assert caught is not None
    assert caught.links == [
        "https://autommate.example/reset-password/abc123/",
        "https://autommate.example/login/",
    ]


@pytest.mark.parametrize(
    "message_id",
    [
        "..",
        "../secret_key",
        "../../etc/passwd",
        "20250301T142501123456-9f86d081/../../secret_key",
        "20250301T142501123456-9F86D081",
        "20250301T142501123456-9f86d081\n",
        "",
    ],
)
def test_malformed_ids_are_not_read(message_id: str) -> None:
    assert store.get_message(message_id) is None
