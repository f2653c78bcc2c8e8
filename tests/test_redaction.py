from __future__ import annotations

import logging

import pytest

from autommate.redaction import RedactSecretsFilter, redact, redact_access_atoms

TOKEN = "Zm9vYmFyYmF6cXV4LXNlY3JldC10b2tlbi0xMjM0NTY3ODkw"


@pytest.mark.parametrize(
    "text",
    [
        f"GET /reset-password/{TOKEN}/ HTTP/1.1",
        f"https://automate.example.org/reset-password/{TOKEN}/",
        f"/settings/mail/confirm/{TOKEN}/?x=1",
        f'"GET /reset-password/{TOKEN} HTTP/1.1"',
    ],
)
def test_link_tokens_are_redacted(text: str) -> None:
    redacted = redact(text)
    assert TOKEN not in redacted
    assert "[redacted]" in redacted


def test_other_paths_are_left_alone() -> None:
    assert redact("GET /reset-password/ HTTP/1.1") == "GET /reset-password/ HTTP/1.1"
    assert redact("GET /users/12/ HTTP/1.1") == "GET /users/12/ HTTP/1.1"


def test_log_records_and_access_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "Not Found: %s",
        (f"/reset-password/{TOKEN}/",),
        None,
    )
    RedactSecretsFilter().filter(record)
    assert TOKEN not in record.getMessage()
    atoms = redact_access_atoms(
        {
            "r": f"GET /reset-password/{TOKEN}/ HTTP/1.1",
            "{referer}i": f"http://x/reset-password/{TOKEN}/",
            "s": 302,
        }
    )
    assert TOKEN not in str(atoms)
    assert atoms["s"] == 302
