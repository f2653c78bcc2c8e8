"""The OAuth 2.0 login benchmark: token requests per mail, the cost of XOAUTH2, a slow endpoint.

Everything runs in this process on 127.0.0.1: the test suite's token endpoint (Microsoft Entra's
client credentials grant over HTTPS) and its aiosmtpd server with STARTTLS and XOAUTH2, reached
through the product's own mail backend and test mail.

1. Mails in batches, as the delivery worker sends them (one connection per batch), logging in
   with XOAUTH2, and the same with a password: mails per second and token requests.
2. The same mails while tokens live only a few seconds: tokens are renewed before they expire.
3. The test mail with a token endpoint that takes longer and longer to answer.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autommate.mailserver.connection import ServerConfig
    from tests.oauth_provider import TokenEndpoint
    from tests.smtp_server import LocalCA, SMTPTestServer

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-value"
MAILBOX = "noreply@example.org"


@dataclass
class OAuthPlan:
    mails: int = 100
    batch: int = 10
    short_lifetime_seconds: int = 4
    slow_endpoint_seconds: tuple[float, ...] = (0.0, 0.5, 2.0, 20.0)

    @classmethod
    def quick(cls) -> OAuthPlan:
        return cls(mails=50, slow_endpoint_seconds=(0.0, 2.0, 20.0))


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    # The test servers' chatter and the test mail's log line would break up the tables.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    logging.getLogger("autommate").setLevel(logging.WARNING)


@contextmanager
def _servers() -> Iterator[tuple[LocalCA, TokenEndpoint, SMTPTestServer, SMTPTestServer]]:
    import trustme

    from tests.oauth_provider import TokenEndpoint
    from tests.smtp_server import LocalCA, SMTPTestServer

    with tempfile.TemporaryDirectory() as directory:
        ca = LocalCA(trustme.CA(), Path(directory))
        endpoint = TokenEndpoint(ca).start()
        endpoint.add_client(CLIENT_ID, secret=CLIENT_SECRET, mailboxes=[MAILBOX])
        oauth_server = SMTPTestServer(mode="starttls", ca=ca, oauth=endpoint).start()
        password_server = SMTPTestServer(mode="starttls", ca=ca, auth=True).start()
        try:
            yield ca, endpoint, oauth_server, password_server
        finally:
            oauth_server.stop()
            password_server.stop()
            endpoint.stop()


def _send(config: ServerConfig, mails: int, batch: int, pause: float = 0.0) -> float:
    from django.core.mail import EmailMessage

    from autommate.mailserver.backend import MailServerBackend

    started = time.perf_counter()
    for first in range(0, mails, batch):
        backend = MailServerBackend(config=config)
        messages = [
            EmailMessage(f"Reset {n}", "Your link", MAILBOX, ["ada@example.org"])
            for n in range(first, min(first + batch, mails))
        ]
        if backend.send_messages(messages) != len(messages):
            raise RuntimeError("A batch was not sent.")
        if pause:
            time.sleep(pause)
    return time.perf_counter() - started


def run_oauth(plan: OAuthPlan) -> None:
    _setup_django()
    from autommate.mailserver import tokens
    from autommate.mailserver.connection import ServerConfig
    from autommate.mailserver.diagnosis import diagnose
    from bench.forgot_password import print_table

    with _servers() as (ca, endpoint, oauth_server, password_server):
        common: dict[str, Any] = {
            "host": "localhost",
            "protocol": "smtp",
            "use_tls": True,
            "use_auth": True,
            "ca_certificate": ca.pem,
            "timeout_seconds": 10.0,
        }
        oauth = ServerConfig(
            port=oauth_server.port,
            auth_method="oauth2",
            username=MAILBOX,
            token_url=endpoint.microsoft_url(),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scope="https://outlook.office365.com/.default",
            **common,
        )
        password = ServerConfig(
            port=password_server.port,
            username="mailer",
            password="s3cret-pass",
            **common,
        )

        rows: list[tuple[str, ...]] = []
        tokens.CACHE.clear()
        before = endpoint.token_requests
        seconds = _send(oauth, plan.mails, plan.batch)
        requests = endpoint.token_requests - before
        rows.append(
            (
                "XOAUTH2, tokens valid 60 min",
                str(plan.mails),
                f"{plan.mails / seconds:.0f}",
                str(requests),
                f"{100 * requests / plan.mails:.1f}",
            )
        )
        seconds = _send(password, plan.mails, plan.batch)
        rows.append(("Password (LOGIN)", str(plan.mails), f"{plan.mails / seconds:.0f}", "-", "-"))

        tokens.CACHE.clear()
        endpoint.expires_in = plan.short_lifetime_seconds
        before = endpoint.token_requests
        # Spread the batches over about three token lifetimes.
        pause = 3 * plan.short_lifetime_seconds / max(plan.mails // plan.batch, 1)
        seconds = _send(oauth, plan.mails, plan.batch, pause=pause)
        requests = endpoint.token_requests - before
        rows.append(
            (
                f"XOAUTH2, tokens valid {plan.short_lifetime_seconds} s, over {seconds:.0f} s",
                str(plan.mails),
                f"{plan.mails / seconds:.0f}",
                str(requests),
                f"{100 * requests / plan.mails:.1f}",
            )
        )
        endpoint.expires_in = 3599
        print()
        print_table(
            f"Mails in batches of {plan.batch} (one connection each), STARTTLS, 127.0.0.1",
            ("Login", "Mails", "Mails/s", "Token requests", "Per 100 mails"),
            rows,
        )

        slow_rows: list[tuple[str, ...]] = []
        for delay in plan.slow_endpoint_seconds:
            endpoint.delay_seconds = delay
            started = time.perf_counter()
            diagnosis = diagnose(
                oauth,
                sender=MAILBOX,
                recipient="ada@example.org",
                message=b"Subject: Test\r\n\r\nTest mail.\r\n",
                deadline_seconds=15.0,
            )
            elapsed = time.perf_counter() - started
            failure = diagnosis.failure
            slow_rows.append(
                (
                    f"{delay:g} s",
                    f"{elapsed:.2f} s",
                    "accepted"
                    if diagnosis.ok
                    else f"failed at {failure.label if failure else '?'}",
                )
            )
        endpoint.delay_seconds = 0.0
        print_table(
            "The test mail with a slow token endpoint (the test's bound is 15 s)",
            ("Endpoint delay", "Test mail took", "Outcome"),
            slow_rows,
        )


def main(argv: Sequence[str] | None = None) -> None:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    run_oauth(OAuthPlan.quick() if quick else OAuthPlan())


if __name__ == "__main__":
    main()
