"""Point 17: security headers on every page, safe cookies, and `check --deploy` clean in production.

ASVS 5.0 V3.4 (browser security headers: CSP, frame-ancestors, nosniff, HSTS), V3.3 (cookie
attributes: Secure, HttpOnly, SameSite); OWASP HTTP Headers Cheat Sheet; OWASP Forgot Password
Cheat Sheet (the reset pages load nothing from elsewhere).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.test import Client

from autommate.accounts.devices import DEVICE_COOKIE
from autommate.accounts.models import User
from tests.conftest import USER_PASSWORD

from .conftest import Mailbox, open_link, request_link

pytestmark = pytest.mark.django_db

PUBLIC_PAGES = ["/login/", "/forgot-password/", "/reset-password/", "/no-such-page/"]
ADMIN_PAGES = [
    "/",
    "/users/",
    "/users/add/",
    "/settings/mail/",
    "/settings/mail/log/",
    "/settings/forgot-password/",
    "/settings/audit/",
    "/account/tokens/",
    "/api/v1/docs",
]
PRODUCTION_SETTINGS = [
    "BASE_URL",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
]


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src") and values.get("type") != "application/json":
            self.inline += 1
        if any(name.startswith("on") for name, _ in attrs):
            self.inline += 1


def assert_headers(response: Any) -> None:
    directives: dict[str, str] = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    assert directives["default-src"] == "'self'"
    script_src = directives.get("script-src", directives["default-src"])
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "data:" not in script_src
    assert "*" not in script_src
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin"}
    scripts = _Scripts()
    scripts.feed(response.content.decode())
    assert scripts.inline == 0


def test_every_page_sends_the_security_headers(
    client: Client, admin_client: Client, mailbox: Mailbox, regular_user: User
) -> None:
    responses = [(path, client.get(path)) for path in PUBLIC_PAGES]
    reset = Client()
    open_link(reset, request_link(Client(), mailbox, regular_user.email))
    responses.append(("/reset-password/ (open)", reset.get("/reset-password/")))
    responses += [(path, admin_client.get(path)) for path in ADMIN_PAGES]
    user = Client()
    user.force_login(regular_user)
    responses.append(("/settings/mail/ (forbidden)", user.get("/settings/mail/")))

    for path, response in responses:
        assert response.status_code in {200, 403, 404}, path
        assert_headers(response)


def test_no_page_for_a_signed_in_user_is_stored_by_a_cache(
    admin_client: Client, user_client: Client, regular_user: User
) -> None:
    for path in [*ADMIN_PAGES, f"/users/{regular_user.pk}/", "/api/v1/users"]:
        response = admin_client.get(path)
        assert response.status_code == HTTPStatus.OK, path
        assert "no-store" in response["Cache-Control"], path
    for path in ["/", "/account/tokens/", "/settings/mail/", "/login/"]:
        response = user_client.get(path)
        assert response.status_code in {200, 302, 403}, path
        assert "no-store" in response["Cache-Control"], path


def test_session_and_csrf_cookies_are_samesite_lax(regular_user: User) -> None:
    client = Client()
    form = client.get("/login/")
    signed = client.post("/login/", {"username": regular_user.email, "password": USER_PASSWORD})

    csrf = form.cookies[django_settings.CSRF_COOKIE_NAME]
    session = signed.cookies[django_settings.SESSION_COOKIE_NAME]
    device = signed.cookies[DEVICE_COOKIE]
    assert csrf["samesite"] == "Lax"
    assert session["samesite"] == "Lax"
    assert session["httponly"]
    assert device["samesite"] == "Lax"
    assert device["httponly"]


def production_environment(tmp_path: Path, base_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTOMMATE_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    return env | {
        "DJANGO_SETTINGS_MODULE": "autommate.settings",
        "AUTOMMATE_DEBUG": "0",
        "AUTOMMATE_BASE_URL": base_url,
        "AUTOMMATE_SECRET_KEY": secrets.token_urlsafe(50),
        "AUTOMMATE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "AUTOMMATE_VAR_DIR": str(tmp_path),
        "AUTOMMATE_ENV_FILE": os.devnull,
    }


def production_settings(tmp_path: Path, base_url: str) -> dict[str, Any]:
    """Return the settings the product derives for `base_url`, computed in a fresh process."""
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {PRODUCTION_SETTINGS!r}}}))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        env=production_environment(tmp_path, base_url),
        capture_output=True,
        text=True,
        check=True,
    )
    values: dict[str, Any] = json.loads(shown.stdout)
    if values["SECURE_PROXY_SSL_HEADER"] is not None:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


def test_https_base_url_brings_secure_cookies_hsts_and_redirects(
    tmp_path: Path, settings, regular_user: User
) -> None:
    for name, value in production_settings(tmp_path, "https://accounts.example.com").items():
        setattr(settings, name, value)
    client = Client(HTTP_HOST="accounts.example.com")

    plain = client.get("/login/")
    assert plain.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert plain["Location"] == "https://accounts.example.com/login/"

    form = client.get("/login/", secure=True)
    signed = client.post(
        "/login/", {"username": regular_user.email, "password": USER_PASSWORD}, secure=True
    )
    hsts = form["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts
    assert form.cookies[settings.CSRF_COOKIE_NAME]["secure"]
    assert signed.cookies[settings.SESSION_COOKIE_NAME]["secure"]
    assert signed.cookies[DEVICE_COOKIE]["secure"]
    assert_headers(form)


def test_http_base_url_sends_no_hsts(tmp_path: Path) -> None:
    values = production_settings(tmp_path, "http://127.0.0.1:8000")
    assert not values["SECURE_HSTS_SECONDS"]
    assert not values["SESSION_COOKIE_SECURE"]


def test_check_deploy_passes_with_production_settings(tmp_path: Path) -> None:
    checked = subprocess.run(
        [
            str(Path(sys.executable).with_name("autommate")),
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=production_environment(tmp_path, "https://accounts.example.com"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_check_deploy_warns_while_the_encryption_key_is_derived_from_the_secret_key(
    tmp_path: Path,
) -> None:
    environment = production_environment(tmp_path, "https://accounts.example.com")
    del environment["AUTOMMATE_ENCRYPTION_KEYS"]

    checked = subprocess.run(
        [str(Path(sys.executable).with_name("autommate")), "check", "--deploy"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = checked.stdout + checked.stderr
    assert "(autommate.W001) AUTOMMATE_ENCRYPTION_KEYS is not set" in report
    assert "1 issue" in report
