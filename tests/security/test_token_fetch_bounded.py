"""Point 20: the token URL cannot be turned into a way to reach what the application can reach.

An administrator types the token URL and the application fetches it, so it is held to the rules
of the mail server's own address (ASVS 5.0 V1.3.6, V15 SSRF; OWASP SSRF Prevention Cheat Sheet):
https only with the certificate verified, no redirect followed (a 307 would carry the client
secret to a host nobody checked), the answer's size limited, the whole test mail within its
bound, link-local addresses always refused and AUTOMMATE_MAIL_ALLOWED_DESTINATIONS obeyed.
Every test drives the mail server page of the running application.
"""

from __future__ import annotations

import socket
import time
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from tests.oauth_provider import TokenEndpoint
from tests.smtp_server import LocalCA, SMTPServerFactory, SMTPTestServer

from .conftest import connected, mail_form

pytestmark = pytest.mark.django_db

CLIENT_ID = "2b0e6f0c-6b1a-4d7e-8f3e-5a9c1d2e3f40"
CLIENT_SECRET = "Vq7~secret-that-must-stay-home"
MAILBOX = "noreply@example.org"
REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def server(smtp_server_factory: SMTPServerFactory, token_endpoint: TokenEndpoint) -> SMTPTestServer:
    token_endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET)
    # Plain SMTP (the login allowed without TLS), so that the CA certificate field decides alone
    # whether the token URL is trusted.
    return smtp_server_factory("plain", oauth=token_endpoint)


def send_test(
    client: Client, server: SMTPTestServer, token_url: str, ca: LocalCA | None, **overrides: Any
) -> str:
    values = mail_form(
        server,
        use_tls=None,
        use_auth="on",
        allow_insecure_login="on",
        auth_method="oauth2",
        username=MAILBOX,
        token_url=token_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope="https://outlook.office365.com/.default",
        ca_certificate=ca.pem if ca else "",
        test_recipient="ops@example.org",
        **overrides,
    )
    response = client.post("/settings/mail/test/", values)
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)
    page = response.content.decode()
    assert CLIENT_SECRET not in page
    return page


def test_the_token_url_is_fetched_over_https_only(
    admin_client: Client, server: SMTPTestServer, listener: socket.socket, test_ca: LocalCA
) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/contoso/oauth2/v2.0/token"

    page = send_test(admin_client, server, url, test_ca)

    assert "only over https" in page
    assert not connected(listener)
    assert server.commands == []


def test_the_token_urls_certificate_is_verified(
    admin_client: Client, server: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    untrusted = send_test(admin_client, server, token_endpoint.microsoft_url(), None)

    assert "not signed by an authority this system trusts" in untrusted
    assert token_endpoint.token_requests == 0
    # The CA certificate of the mail settings is what makes a private CA trusted.
    trusted = send_test(admin_client, server, token_endpoint.microsoft_url(), test_ca)
    assert "Accepted by the server" in trusted
    assert token_endpoint.token_requests == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(
    admin_client: Client,
    server: SMTPTestServer,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    listener: socket.socket,
    status: int,
) -> None:
    elsewhere = f"https://127.0.0.1:{listener.getsockname()[1]}/steal"
    token_endpoint.respond_with(status, "", headers={"Location": elsewhere})

    page = send_test(admin_client, server, token_endpoint.microsoft_url(), test_ca)

    assert "answered with a redirect" in page
    assert token_endpoint.token_requests == 1
    assert not connected(listener)
    assert server.logins == []


def test_an_oversized_answer_is_not_read_to_its_end(
    admin_client: Client, server: SMTPTestServer, token_endpoint: TokenEndpoint, test_ca: LocalCA
) -> None:
    token_endpoint.respond_with(200, b"{" + b" " * (8 * 1024 * 1024), "application/json")

    page = send_test(admin_client, server, token_endpoint.microsoft_url(), test_ca)

    assert "more than 64 KB" in page
    assert server.logins == []


def test_a_slow_token_endpoint_cannot_hold_the_page_past_the_bound(
    admin_client: Client,
    server: SMTPTestServer,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    settings,
) -> None:
    settings.TEST_MAIL_TIMEOUT_SECONDS = 2
    token_endpoint.delay_seconds = 30
    started = time.monotonic()

    page = send_test(admin_client, server, token_endpoint.microsoft_url(), test_ca)

    assert time.monotonic() - started < 4
    assert "did not answer in time" in page


@pytest.fixture
def metadata_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A token host that resolves to the cloud metadata address, as DNS could make any name."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "login.attacker.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "login.attacker.example"


@pytest.mark.parametrize("host", ["169.254.169.254", "[fe80::1]", "login.attacker.example"])
@pytest.mark.parametrize("allowed", ["", "169.254.0.0/16,fe80::/10,login.attacker.example"])
def test_link_local_token_hosts_are_always_refused(
    admin_client: Client,
    server: SMTPTestServer,
    test_ca: LocalCA,
    metadata_name: str,
    settings,
    host: str,
    allowed: str,
) -> None:
    settings.MAIL_ALLOWED_DESTINATIONS = ",".join(filter(None, [allowed, "127.0.0.1"]))

    page = send_test(admin_client, server, f"https://{host}/latest/meta-data/token", test_ca)

    assert "link-local" in page
    assert server.logins == []


def test_the_allowed_destinations_hold_for_the_token_url(
    admin_client: Client,
    server: SMTPTestServer,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    settings,
) -> None:
    # The mail server is allowed by name; the token URL's host is not.
    settings.MAIL_ALLOWED_DESTINATIONS = "localhost"
    url = f"https://127.0.0.1:{token_endpoint.port}/contoso/oauth2/v2.0/token"

    page = send_test(admin_client, server, url, test_ca, host="localhost")

    assert "not among the destinations" in page
    assert "AUTOMMATE_MAIL_ALLOWED_DESTINATIONS" in page
    assert token_endpoint.token_requests == 0


def test_a_token_url_on_this_machine_is_refused_unless_named_with_its_port(
    admin_client: Client,
    server: SMTPTestServer,
    token_endpoint: TokenEndpoint,
    test_ca: LocalCA,
    settings,
) -> None:
    # The mail server is a relay on this machine, allowed with its port; the token URL is too,
    # on a port of its own.
    settings.MAIL_ALLOWED_DESTINATIONS = f"public,127.0.0.1:{server.port}"
    url = token_endpoint.microsoft_url()
    assert url.startswith("https://localhost:")

    refused = send_test(admin_client, server, url, test_ca)
    settings.MAIL_ALLOWED_DESTINATIONS += f",localhost:{token_endpoint.port}"
    allowed = send_test(admin_client, server, url, test_ca)

    assert "The token URL localhost leads to an address that is not among the destinations" in (
        refused
    )
    assert f"localhost:{token_endpoint.port}" in refused
    assert "Accepted by the server" in allowed
    assert token_endpoint.token_requests == 1
