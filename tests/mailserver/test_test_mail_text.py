"""What the test mail says: nothing about the internal server it went through."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.django_db


def test_test_mail_does_not_print_the_internal_host_and_port(
    admin_client: Client, smtp_server: SMTPTestServer
) -> None:
    smtp_server.save_settings()

    admin_client.post("/settings/mail/test/", {"test_recipient": "ops@example.org"})

    [received] = smtp_server.wait_for(1)
    for part in ("plain", "html"):
        body = received.get_body((part,))
        assert body is not None
        text = body.get_content()
        assert "Confirm" in text or "confirm" in text
        assert f"{smtp_server.host}:{smtp_server.port}" not in text
        assert f"localhost:{smtp_server.port}" not in text
    assert received["X-Auto-Response-Suppress"] == "All"
    assert received["Message-ID"].endswith("@example.org>")
