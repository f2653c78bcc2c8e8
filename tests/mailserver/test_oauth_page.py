"""The mail server page with OAuth 2.0 and a Google service account: the fields, what is saved
(encrypted, never shown again), and the errors that keep bad credentials from being saved."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.test import Client

from autommate.audit.models import Action, AuditEvent
from autommate.mailserver.models import SECRET_FIELDS, MailServerSettings
from tests.credentials import certificate_pem, private_key_pem, rsa_key, service_account_key

pytestmark = pytest.mark.django_db

TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
SCOPE = "https://outlook.office365.com/.default"
CLIENT_ID = "8e2b5c1a-0d3f-4a6e-9b7c-2f1e4d5a6b7c"
CLIENT_SECRET = "Xy7~s3cret.value-never-shown_42"
MAILBOX = "noreply@contoso.example"
WORKSPACE_USER = "noreply@workspace.example"
LABELS = (
    "Use authentication",
    "Authentication method",
    "Username",
    "Password",
    "Token URL",
    "Client ID",
    "Client secret",
    "Client certificate",
    "Scope",
    "Service account key",
)


@dataclass(frozen=True)
class Credentials:
    """A client certificate (PEM key, then certificate) and a service account's JSON key."""

    client_certificate: str
    certificate_only: str
    service_account_key: str
    # A line from the middle of each private key: if the page holds it, it shows the secret.
    key_lines: tuple[str, str]


def _middle_line(pem: str) -> str:
    lines = pem.strip().splitlines()
    return lines[len(lines) // 2]


@pytest.fixture(scope="module")
def credentials() -> Credentials:
    key = rsa_key("page-client-certificate")
    key_pem = private_key_pem(key)
    certificate = certificate_pem(key, "Autom Mate mail")
    account_key = service_account_key(
        client_email="mailer@autommate-mail.iam.gserviceaccount.com", name="page-service-account"
    )
    account_key_pem = json.loads(account_key)["private_key"]
    return Credentials(
        client_certificate=key_pem + certificate,
        certificate_only=certificate,
        service_account_key=account_key,
        key_lines=(_middle_line(key_pem), _middle_line(account_key_pem)),
    )


def form_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "host": "smtp.office365.com",
        "port": 587,
        "protocol": "smtp",
        "use_tls": "on",
        "sender_name": "Autom Mate",
        "sender_email": MAILBOX,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def oauth2(**overrides: Any) -> dict[str, Any]:
    return form_data(
        **{
            "use_auth": "on",
            "auth_method": "oauth2",
            "username": MAILBOX,
            "token_url": TOKEN_URL,
            "client_id": CLIENT_ID,
            "scope": SCOPE,
        }
        | overrides
    )


def service_account(**overrides: Any) -> dict[str, Any]:
    return form_data(
        **{
            "host": "smtp.gmail.com",
            "sender_email": WORKSPACE_USER,
            "use_auth": "on",
            "auth_method": "google-service-account",
            "username": WORKSPACE_USER,
        }
        | overrides
    )


def errors_of(response: Any, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


def saved_row() -> dict[str, Any]:
    return model_to_dict(MailServerSettings.objects.get())


def assert_secret_saved(name: str, value: str) -> None:
    saved = MailServerSettings.objects.get()
    stored = getattr(saved, f"{name}_encrypted")
    assert stored
    assert value not in stored
    assert value.splitlines()[len(value.splitlines()) // 2] not in stored
    assert saved.secret(name) == value
    assert not saved.is_verified


def assert_other_secrets_empty(*kept: str) -> None:
    saved = MailServerSettings.objects.get()
    for name in SECRET_FIELDS:
        if name not in kept:
            assert getattr(saved, f"{name}_encrypted") == "", name


@pytest.fixture
def saved_oauth2(admin_client: Client) -> MailServerSettings:
    """OAuth 2.0 settings with a client secret, saved through the page."""
    response = admin_client.post("/settings/mail/", oauth2(client_secret=CLIENT_SECRET))
    assert response.status_code == HTTPStatus.FOUND
    return MailServerSettings.objects.get()


# -- The page -----------------------------------------------------------------------------------


def test_page_has_the_authentication_method_fields(admin_client: Client) -> None:
    page = admin_client.get("/settings/mail/").content.decode()
    for label in LABELS:
        assert f">{label}</label>" in page, label
    method = re.search(r'<select name="auth_method".*?</select>', page, re.DOTALL)
    assert method
    choices = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', method.group(0))
    assert choices == [
        ("password", "Password"),
        ("oauth2", "OAuth 2.0"),
        ("google-service-account", "Google service account"),
    ]
    assert re.search(r'<option value="password" selected>', method.group(0))
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" name="service_account_key_file"' in page


def test_fields_come_in_order_with_each_method_under_its_heading(admin_client: Client) -> None:
    page = admin_client.get("/settings/mail/").content.decode()
    positions = [page.index(f">{label}</label>") for label in LABELS]
    assert positions == sorted(positions)
    groups = re.findall(
        r'<fieldset class="auth-method" data-auth-method="([^"]+)">\s*<legend>([^<]+)</legend>'
        r"(.*?)</fieldset>",
        page,
        re.DOTALL,
    )
    assert [(key, heading) for key, heading, _ in groups] == [
        ("password", "Password"),
        ("oauth2", "OAuth 2.0"),
        ("google-service-account", "Google service account"),
    ]
    fields = {key: re.findall(r'name="(\w+)"', body) for key, _, body in groups}
    assert fields == {
        "password": ["password"],
        "oauth2": ["token_url", "client_id", "client_secret", "client_certificate", "scope"],
        "google-service-account": ["service_account_key", "service_account_key_file"],
    }
    # Progressive enhancement: without the script every group shows; the script is a file.
    login = page.split("data-auth-details", 1)[1].split("</form>", 1)[0]
    assert " hidden" not in login
    assert "autommate/auth-method.js" in page
    assert "<script>" not in page
    assert " onchange=" not in page


def test_oauth2_fields_have_their_help_and_placeholders(admin_client: Client) -> None:
    page = admin_client.get("/settings/mail/").content.decode()
    tenant = "https://login.microsoftonline.com/&lt;tenant&gt;/oauth2/v2.0/token"
    assert f'placeholder="{tenant}"' in page
    assert f"Microsoft 365: {tenant} with your tenant ID" in page
    assert "<tenant>" not in page  # help texts are HTML: the placeholder is no tag
    assert "The secret's value (not its ID)" in page
    assert "No password is saved." in page
    assert "The JSON key file of the service account, pasted or uploaded." in page


# -- Saving -------------------------------------------------------------------------------------


def test_saving_oauth2_with_a_client_secret_stores_it_encrypted_and_never_shows_it(
    admin_client: Client, configured_mail_server: MailServerSettings
) -> None:
    assert MailServerSettings.objects.get().is_verified
    response = admin_client.post(
        "/settings/mail/", oauth2(client_secret=CLIENT_SECRET), follow=True
    )
    page = response.content.decode()
    assert "They are not verified" in page
    saved = MailServerSettings.objects.get()
    assert (saved.auth_method, saved.username, saved.token_url) == ("oauth2", MAILBOX, TOKEN_URL)
    assert (saved.client_id, saved.scope) == (CLIENT_ID, SCOPE)
    assert_secret_saved("client_secret", CLIENT_SECRET)
    assert_other_secrets_empty("client_secret")
    assert CLIENT_SECRET not in page
    assert "A client secret is saved. Leave this empty to keep it" in page
    assert re.search(r'<option value="oauth2" selected>', page)
    event = AuditEvent.objects.filter(action=Action.MAIL_SETTINGS_CHANGED).latest("pk")
    assert "client_secret" in event.detail["fields"]
    assert CLIENT_SECRET not in str(event.detail)


def test_saving_oauth2_with_a_client_certificate_stores_it_encrypted_and_never_shows_it(
    admin_client: Client, credentials: Credentials
) -> None:
    response = admin_client.post(
        "/settings/mail/", oauth2(client_certificate=credentials.client_certificate)
    )
    assert response.status_code == HTTPStatus.FOUND
    assert_secret_saved("client_certificate", credentials.client_certificate.strip())
    assert_other_secrets_empty("client_certificate")
    page = admin_client.get("/settings/mail/").content.decode()
    assert credentials.key_lines[0] not in page
    assert "BEGIN PRIVATE KEY-----\n" not in page
    assert "A client certificate is saved. Leave this empty to keep it" in page


@pytest.mark.parametrize("how", ["pasted", "uploaded"])
def test_saving_a_service_account_key_stores_it_encrypted_and_never_shows_it(
    admin_client: Client, credentials: Credentials, how: str
) -> None:
    key = credentials.service_account_key
    if how == "pasted":
        data = service_account(service_account_key=key)
    else:
        upload = SimpleUploadedFile("key.json", key.encode(), content_type="application/json")
        data = service_account(service_account_key_file=upload)
    response = admin_client.post("/settings/mail/", data)
    assert response.status_code == HTTPStatus.FOUND
    assert_secret_saved("service_account_key", key.strip())
    assert_other_secrets_empty("service_account_key")
    saved = MailServerSettings.objects.get()
    assert (saved.auth_method, saved.username) == ("google-service-account", WORKSPACE_USER)
    assert saved.token_url == saved.client_id == saved.scope == ""
    page = admin_client.get("/settings/mail/").content.decode()
    assert credentials.key_lines[1] not in page
    assert "mailer@autommate-mail.iam.gserviceaccount.com" not in page
    assert "A service account key is saved. Leave this empty to keep it" in page


def test_empty_client_secret_keeps_the_saved_one(
    admin_client: Client, saved_oauth2: MailServerSettings
) -> None:
    response = admin_client.post("/settings/mail/", oauth2(sender_name="Ops"))
    assert response.status_code == HTTPStatus.FOUND
    saved = MailServerSettings.objects.get()
    assert saved.sender_name == "Ops"
    assert saved.secret("client_secret") == CLIENT_SECRET


def test_typed_secrets_are_not_rendered_back_when_the_form_has_errors(
    admin_client: Client, credentials: Credentials
) -> None:
    response = admin_client.post(
        "/settings/mail/",
        oauth2(client_id="", client_certificate=credentials.client_certificate),
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert errors_of(response, "client_id") == ["Enter the client ID of the application."]
    page = response.content.decode()
    assert credentials.key_lines[0] not in page
    assert TOKEN_URL in page  # what is not secret stays as typed

    response = admin_client.post(
        "/settings/mail/",
        service_account(username="", service_account_key=credentials.service_account_key),
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert credentials.key_lines[1] not in response.content.decode()
    assert not MailServerSettings.objects.exists()


def test_changed_token_url_needs_the_client_secret_again(
    admin_client: Client, saved_oauth2: MailServerSettings
) -> None:
    before = saved_row()
    elsewhere = "https://login.example.net/tenant/oauth2/v2.0/token"
    response = admin_client.post("/settings/mail/", oauth2(token_url=elsewhere))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    (error,) = errors_of(response, "client_secret")
    assert error.startswith("Enter the client secret (or client certificate) again")
    assert saved_row() == before

    response = admin_client.post(
        "/settings/mail/", oauth2(token_url=elsewhere, client_secret="a-new-secret")
    )
    assert response.status_code == HTTPStatus.FOUND
    assert MailServerSettings.objects.get().secret("client_secret") == "a-new-secret"


def _big_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("key.json", b" " * (64 * 1024 + 1), content_type="application/json")


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("http token URL", "token_url", "does not start with https://"),
        ("tenant placeholder", "token_url", "still holds a placeholder such as <tenant>"),
        ("certificate without key", "client_certificate", "holds no private key"),
        ("not a service account key", "service_account_key", "not a service account key"),
        ("not JSON", "service_account_key", "The service account key is not JSON"),
        ("file too large", "service_account_key", "too large (at most 64 KB)"),
        ("secret and certificate", "client_certificate", "not both"),
        ("no secret at all", "client_secret", "Enter the client secret"),
        ("no service account key", "service_account_key", "Paste the service account"),
        ("no token URL", "token_url", "Enter the token URL"),
        ("no mailbox", "username", "Enter the mailbox that sends"),
        ("Workspace user without domain", "username", "full address of a Workspace user"),
    ],
)
def test_bad_oauth_settings_are_explained_on_their_field_and_change_nothing(
    admin_client: Client, credentials: Credentials, case: str, field: str, message: str
) -> None:
    admin_client.post("/settings/mail/", form_data(use_auth="on", username="u", password="pw"))
    before = saved_row()
    data = {
        "http token URL": oauth2(
            token_url="http://login.example.net/token", client_secret=CLIENT_SECRET
        ),
        "tenant placeholder": oauth2(
            token_url="https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token",
            client_secret=CLIENT_SECRET,
        ),
        "certificate without key": oauth2(client_certificate=credentials.certificate_only),
        "not a service account key": service_account(
            service_account_key=json.dumps({"type": "authorized_user", "client_id": "x"})
        ),
        "not JSON": service_account(service_account_key="-----BEGIN PRIVATE KEY-----"),
        "file too large": service_account(service_account_key_file=_big_upload()),
        "secret and certificate": oauth2(
            client_secret=CLIENT_SECRET, client_certificate=credentials.client_certificate
        ),
        "no secret at all": oauth2(),
        "no service account key": service_account(),
        "no token URL": oauth2(token_url="", client_secret=CLIENT_SECRET),
        "no mailbox": oauth2(username="", client_secret=CLIENT_SECRET),
        "Workspace user without domain": service_account(
            username="noreply", service_account_key=credentials.service_account_key
        ),
    }[case]
    response = admin_client.post("/settings/mail/", data)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    errors = errors_of(response, field)
    assert any(message in error for error in errors), errors
    assert 'class="field field-invalid"' in response.content.decode()
    assert saved_row() == before
    assert MailServerSettings.objects.get().password() == "pw"


def test_switching_back_to_password_requires_a_password(
    admin_client: Client, saved_oauth2: MailServerSettings
) -> None:
    back = form_data(use_auth="on", auth_method="password", username="mailer")
    response = admin_client.post("/settings/mail/", back)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert errors_of(response, "password") == ["Enter the password for the mail server."]
    assert MailServerSettings.objects.get().auth_method == "oauth2"

    response = admin_client.post("/settings/mail/", back | {"password": "hunter2-secret"})
    assert response.status_code == HTTPStatus.FOUND
    saved = MailServerSettings.objects.get()
    assert saved.auth_method == "password"
    assert saved.password() == "hunter2-secret"
    assert saved.token_url == saved.client_id == saved.scope == ""
    assert_other_secrets_empty("password")


def test_fields_of_the_methods_not_chosen_are_ignored(
    admin_client: Client, credentials: Credentials
) -> None:
    """Without JavaScript every method's fields show; only the chosen method's count."""
    stray = {
        "token_url": "http://login.microsoftonline.com/<tenant>/token",
        "client_id": "stray",
        "client_secret": "stray-secret",
        "client_certificate": "not a certificate",
        "service_account_key": "not json",
        "scope": "stray",
    }
    response = admin_client.post(
        "/settings/mail/",
        form_data(use_auth="on", auth_method="password", username="u", password="pw", **stray),
    )
    assert response.status_code == HTTPStatus.FOUND
    saved = MailServerSettings.objects.get()
    assert saved.token_url == saved.client_id == saved.scope == ""
    assert_other_secrets_empty("password")

    upload = SimpleUploadedFile("key.json", b"not json", content_type="application/json")
    response = admin_client.post(
        "/settings/mail/",
        oauth2(client_secret=CLIENT_SECRET, service_account_key_file=upload, password="pw"),
    )
    assert response.status_code == HTTPStatus.FOUND
    assert_other_secrets_empty("client_secret")

    response = admin_client.post("/settings/mail/", form_data(username="u\nx", **stray))
    assert response.status_code == HTTPStatus.FOUND
    saved = MailServerSettings.objects.get()
    assert (saved.use_auth, saved.username, saved.auth_method) == (False, "", "password")
    assert_other_secrets_empty()


# -- The test mail ------------------------------------------------------------------------------


def test_test_mail_shows_the_access_token_step_with_cause_and_fix(
    admin_client: Client, smtp_server: Any, closed_port: int
) -> None:
    data = oauth2(
        host=smtp_server.host,
        port=smtp_server.port,
        use_tls=None,
        allow_insecure_login="on",
        token_url=f"https://127.0.0.1:{closed_port}/token",
        client_secret=CLIENT_SECRET,
        test_recipient="ops@example.org",
    )
    response = admin_client.post("/settings/mail/test/", data)
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "Failed</span> at the step “Get access token”" in page
    step = re.search(
        r'<li class="step-failed">\s*<strong>Get access token</strong>(.*?)</li>', page, re.DOTALL
    )
    assert step, page
    assert "Cause:" in step.group(1)
    assert "Fix:" in step.group(1)
    assert CLIENT_SECRET not in page
    greeting = page.index("<strong>Greeting (EHLO)</strong>")
    assert greeting < page.index("<strong>Get access token</strong>")
    assert smtp_server.messages == []
