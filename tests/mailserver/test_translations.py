"""The mail server speaks German and Turkish: step names, every cause and fix, in whole sentences.

An administrator fixing a broken setup reads the test mail's causes and fixes in their own
language. A string left unmarked would stay English in a German or Turkish page, and a
placeholder renamed or dropped by a translator would fail only when that failure happens.
"""

from __future__ import annotations

import gettext
import io
import ipaddress
import json
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from autommate.delivery.failures import failure_render
from autommate.delivery.models import DeliveryAttempt, OutgoingMessage
from autommate.mailserver import explanations
from autommate.mailserver.connection import (
    ACCESS_TOKEN,
    PASSWORD,
    AddressNeedsSMTPUTF8,
    ConflictingTLSSettings,
    LoginWithoutTLS,
    MailServerNotConfigured,
    NotAMailServer,
    ServerConfig,
    ssl_context,
)
from autommate.mailserver.destinations import check_destination
from autommate.mailserver.diagnosis import StepLadder
from autommate.mailserver.explanations import Explanation, explain, mail_log_failure
from autommate.mailserver.models import MailServerSettings
from autommate.mailserver.secrets import UndecryptableSecret
from autommate.mailserver.steps import MailStepError, StepName
from autommate.mailserver.tokens import (
    NotAToken,
    ServiceAccountKey,
    TokenRedirected,
    TokenRefused,
    XOAuth2NotOffered,
    check_token_url,
)

LANGUAGES = ["de", "tr"]
SOURCE = Path(explanations.__file__).parent.parent
# The apps whose Python speaks to people and that carry their own catalogues.
APPS = ["mailserver", "delivery", "audit"]
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")

PLAIN = ServerConfig(host="smtp.example.org", port=587)
IMPLICIT = ServerConfig(host="smtp.example.org", port=587, protocol="smtps", use_tls=False)
WITH_LOGIN = ServerConfig(
    host="smtp.example.org", port=587, use_auth=True, username="mailer", password="secret"
)
MICROSOFT = ServerConfig(
    host="smtp.office365.com",
    port=587,
    use_auth=True,
    auth_method="oauth2",
    username="noreply@example.org",
    token_url="https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
    client_id="client",
    client_secret="secret",
)
GOOGLE = ServerConfig(
    host="smtp.gmail.com",
    port=587,
    use_auth=True,
    auth_method="google-service-account",
    username="noreply@example.org",
)


def _reply(code: int, text: str) -> smtplib.SMTPResponseException:
    return smtplib.SMTPResponseException(code, text.encode())


def _refused(code: int, text: str) -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused({"user@example.net": (code, text.encode())})


def _certificate(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, message)
    error.verify_code = code
    error.verify_message = message
    return error


def _token_refused(
    error: str, description: str = "", codes: list[str] | None = None
) -> TokenRefused:
    return TokenRefused(400, error, description, codes or [])


# One failure for each kind of cause the explainer knows, at the step it happens.
# An error whose message is its cause is made in the language in use, by the code that makes it.
FAILURES: list[
    tuple[str, StepName, BaseException | Callable[[], BaseException], ServerConfig | None]
] = [
    ("not configured", StepName.RESOLVE, MailServerNotConfigured("no"), None),
    ("unknown name", StepName.RESOLVE, socket.gaierror(socket.EAI_NONAME, "unknown"), PLAIN),
    ("dns failure", StepName.RESOLVE, socket.gaierror(socket.EAI_FAIL, "failed"), PLAIN),
    ("dns for now", StepName.RESOLVE, socket.gaierror(socket.EAI_AGAIN, "again"), PLAIN),
    ("dns slow", StepName.RESOLVE, TimeoutError(), PLAIN),
    ("refused destination", StepName.CONNECT, lambda: _caught(_private_server), PLAIN),
    ("no mail server", StepName.CONNECT, NotAMailServer(), PLAIN),
    (
        "no mail server on 465",
        StepName.CONNECT,
        NotAMailServer(),
        PLAIN.__class__(host="h", port=465),
    ),
    ("no route", StepName.CONNECT, OSError(101, "Network is unreachable"), PLAIN),
    ("connect error", StepName.CONNECT, OSError(1, "Operation not permitted"), PLAIN),
    ("no starttls", StepName.TLS, smtplib.SMTPNotSupportedError("STARTTLS"), PLAIN),
    ("name mismatch", StepName.TLS, _certificate(62, "Hostname mismatch"), PLAIN),
    ("expired", StepName.TLS, _certificate(10, "certificate has expired"), PLAIN),
    ("not yet valid", StepName.TLS, _certificate(9, "certificate is not yet valid"), PLAIN),
    ("untrusted", StepName.TLS, _certificate(20, "unable to get local issuer certificate"), PLAIN),
    ("untrusted unknown", StepName.TLS, _certificate(20, ""), PLAIN),
    ("tls timeout", StepName.TLS, TimeoutError(), IMPLICIT),
    ("tls lost", StepName.TLS, ConnectionResetError(), IMPLICIT),
    ("both tls", StepName.TLS, ConflictingTLSSettings("both"), IMPLICIT),
    ("bad ca", StepName.TLS, lambda: _caught(ssl_context, "not a certificate"), PLAIN),
    ("starttls refused", StepName.TLS, _reply(454, "TLS not available"), PLAIN),
    ("greeting timeout", StepName.GREETING, TimeoutError(), PLAIN),
    ("greeting lost", StepName.GREETING, smtplib.SMTPServerDisconnected(), PLAIN),
    ("greeting refused", StepName.GREETING, _reply(554, "go away"), PLAIN),
    ("token url", StepName.TOKEN, lambda: _caught(check_token_url, "http://x.org/"), MICROSOFT),
    ("credential", StepName.TOKEN, lambda: _caught(ServiceAccountKey.parse, "{"), GOOGLE),
    ("redirect", StepName.TOKEN, TokenRedirected(302, "https://example.org/"), MICROSOFT),
    ("not a token", StepName.TOKEN, NotAToken(200, "text/html", "<html>"), MICROSOFT),
    ("too large", StepName.TOKEN, NotAToken(200, "", "", too_large=True), MICROSOFT),
    ("tenant", StepName.TOKEN, _token_refused("invalid_request", codes=["AADSTS90002"]), MICROSOFT),
    ("client", StepName.TOKEN, _token_refused("invalid_client", codes=["AADSTS700016"]), MICROSOFT),
    ("expired secret", StepName.TOKEN, _token_refused("invalid_client", "expired"), MICROSOFT),
    (
        "wrong secret",
        StepName.TOKEN,
        _token_refused("invalid_client", codes=["AADSTS7000215"]),
        MICROSOFT,
    ),
    ("clock", StepName.TOKEN, _token_refused("invalid_grant", codes=["AADSTS700024"]), MICROSOFT),
    ("scope", StepName.TOKEN, _token_refused("invalid_scope"), MICROSOFT),
    ("delegation", StepName.TOKEN, _token_refused("unauthorized_client"), GOOGLE),
    (
        "unknown user",
        StepName.TOKEN,
        _token_refused("invalid_grant", "Invalid email or User ID"),
        GOOGLE,
    ),
    ("token refused", StepName.TOKEN, _token_refused("invalid_request"), MICROSOFT),
    ("token timeout", StepName.TOKEN, TimeoutError(), MICROSOFT),
    ("xoauth2 missing", StepName.LOGIN, XOAuth2NotOffered("PLAIN"), MICROSOFT),
    (
        "smtp auth off",
        StepName.LOGIN,
        _reply(535, "5.7.139 SmtpClientAuthentication is disabled"),
        MICROSOFT,
    ),
    ("exchange token", StepName.LOGIN, _reply(535, "5.7.3 Authentication unsuccessful"), MICROSOFT),
    (
        "gmail token",
        StepName.LOGIN,
        _reply(535, "5.7.8 Username and Password not accepted"),
        GOOGLE,
    ),
    ("login in clear", StepName.LOGIN, LoginWithoutTLS(PASSWORD), WITH_LOGIN),
    ("token in clear", StepName.LOGIN, LoginWithoutTLS(ACCESS_TOKEN), MICROSOFT),
    ("undecryptable", StepName.LOGIN, UndecryptableSecret("no", name="client_secret"), WITH_LOGIN),
    ("no auth", StepName.LOGIN, smtplib.SMTPNotSupportedError("AUTH"), IMPLICIT),
    ("wrong password", StepName.LOGIN, _reply(535, "5.7.8 Authentication failed"), WITH_LOGIN),
    ("login later", StepName.LOGIN, _reply(454, "try later"), WITH_LOGIN),
    ("login timeout", StepName.LOGIN, TimeoutError(), WITH_LOGIN),
    (
        "sender refused",
        StepName.SENDER,
        smtplib.SMTPSenderRefused(553, b"no", "a@example.org"),
        PLAIN,
    ),
    (
        "sender later",
        StepName.SENDER,
        smtplib.SMTPSenderRefused(451, b"later", "a@example.org"),
        PLAIN,
    ),
    ("unusable sender", StepName.SENDER, lambda: _caught(_unusable_sender), PLAIN),
    ("smtputf8", StepName.SENDER, AddressNeedsSMTPUTF8("jörg@example.org"), PLAIN),
    (
        "login required",
        StepName.SENDER,
        smtplib.SMTPSenderRefused(530, b"5.7.0 Authentication required", "a@example.org"),
        PLAIN,
    ),
    ("greylisted", StepName.RECIPIENT, _refused(450, "4.2.0 Greylisted, see postgrey"), PLAIN),
    ("helo", StepName.RECIPIENT, _refused(504, "5.5.2 <localhost>: Helo command rejected"), PLAIN),
    (
        "not owned",
        StepName.RECIPIENT,
        _refused(553, "5.7.1 Sender address rejected: not owned by user mailer"),
        WITH_LOGIN,
    ),
    ("relay", StepName.RECIPIENT, _refused(554, "5.7.1 Relay access denied"), PLAIN),
    ("recipient later", StepName.RECIPIENT, _refused(451, "try later"), PLAIN),
    ("recipient refused", StepName.RECIPIENT, _refused(550, "5.1.1 User unknown"), PLAIN),
    ("too large", StepName.MESSAGE, _reply(552, "5.3.4 Message size exceeds fixed limit"), PLAIN),
    ("message later", StepName.MESSAGE, _reply(451, "try later"), PLAIN),
    ("message refused", StepName.MESSAGE, _reply(554, "5.7.1 spam"), PLAIN),
    ("message lost", StepName.MESSAGE, smtplib.SMTPServerDisconnected(), PLAIN),
    ("unexpected", StepName.MESSAGE, RuntimeError("boom"), PLAIN),
]


def _caught(function: Callable[..., object], *args: object) -> BaseException:
    """Return the error `function` raises: made in the language in use, as the real one is."""
    try:
        function(*args)
    except Exception as error:
        return error
    raise AssertionError(f"{function} raised nothing")


def _private_server() -> None:
    check_destination("smtp.internal", [ipaddress.ip_address("10.0.0.25")], port=25)


def _unusable_sender() -> None:
    MailServerSettings(sender_email="noreply\n@example.org").sender_address  # noqa: B018


def _explain_in(
    language: str,
    step: StepName,
    error: BaseException | Callable[[], BaseException],
    config: ServerConfig | None,
) -> Explanation:
    with translation.override(language):
        made = error if isinstance(error, BaseException) else error()
        return explain(MailStepError(step, made), config=config)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_step_name_is_translated(language: str) -> None:
    english = {step: step.label for step in StepName}

    with translation.override(language):
        translated = {step: step.label for step in StepName}

    assert all(translated[step] != english[step] for step in StepName), translated


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("name", "step", "error", "config"), FAILURES, ids=[failure[0] for failure in FAILURES]
)
def test_every_cause_and_fix_is_translated(
    language: str,
    name: str,
    step: StepName,
    error: BaseException | Callable[[], BaseException],
    config: ServerConfig | None,
) -> None:
    english = _explain_in("en", step, error, config)
    translated = _explain_in(language, step, error, config)

    assert translated.cause
    assert translated.cause != english.cause
    assert translated.fix
    assert translated.fix != english.fix
    assert translated.temporary is english.temporary


def _catalogue(app: str, language: str) -> dict[str, str]:
    """Return the app's compiled catalogue as msgid → translation (the header left out)."""
    path = SOURCE / app / "locale" / language / "LC_MESSAGES" / "django.mo"
    with path.open("rb") as compiled:
        # GNUTranslations keeps what it read in _catalog; there is no public way to list it.
        entries: dict[str, str] = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    return {msgid: text for msgid, text in entries.items() if isinstance(msgid, str) and msgid}


# Names that read the same in every language.
SAME_IN_EVERY_LANGUAGE = {
    "Port",
    "Scope",
    "Test",
    "Microsoft 365 (OAuth 2.0)",
    "Amazon SES (us-east-1)",
}


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sentence_in_the_catalogue_renders_with_its_placeholders(
    language: str, app: str
) -> None:
    """Format each sentence with sample values, as the code does: a placeholder the translation
    renamed or added raises KeyError, one it dropped loses the server's reply or the name."""
    problems = []
    for msgid, text in _catalogue(app, language).items():
        names = {a or b for a, b in PLACEHOLDER.findall(msgid)}
        samples = {name: f"<{name}>" for name in names}
        if "{" in msgid:
            rendered = text.format(**samples)
        elif names:
            rendered = text % samples
        else:
            rendered = text
        if any(sample not in rendered for sample in samples.values()):
            problems.append(msgid)
    assert problems == []


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sentence_in_the_catalogue_differs_from_the_english(language: str, app: str) -> None:
    """Every cause, fix, label and message, including those no failure above reaches."""
    same = [
        msgid
        for msgid, text in _catalogue(app, language).items()
        if text == msgid
        and msgid not in SAME_IN_EVERY_LANGUAGE
        # A sentence of placeholders and punctuation alone may read the same.
        and re.search(r"[A-Za-z]", PLACEHOLDER.sub("", msgid))
    ]
    assert same == []


def test_the_mail_log_stores_english_whatever_the_language_in_use() -> None:
    """A failure is stored once and read by administrators of any language: in the source."""
    error = MailStepError(StepName.RECIPIENT, _refused(550, "5.1.1 User unknown"))

    with translation.override("de"):
        failure = mail_log_failure(error)

    assert failure.step == "Recipient accepted"
    assert failure.text.startswith("Recipient accepted: The server refused the recipient")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("en", "Recipient accepted"),
        ("de", "Empfänger angenommen"),
        ("tr", "Alıcı kabul edildi"),
    ],
)
def test_the_mail_log_shows_a_stored_step_in_the_readers_language(
    language: str, shown: str
) -> None:
    message = OutgoingMessage.objects.create(kind="test", recipient="user@example.net")
    attempt = DeliveryAttempt.objects.create(
        message=message, number=1, outcome="failed", step="Recipient accepted"
    )

    with translation.override(language):
        assert attempt.step_display == shown


@pytest.mark.django_db
def test_the_command_line_prints_english_whatever_language_is_active(
    configured_mail_server, admin_user, closed_port: int
) -> None:
    configured_mail_server.port = closed_port
    configured_mail_server.save()
    out = io.StringIO()

    with translation.override("de"), pytest.raises(CommandError) as failed:
        call_command("mailserver", "test", "--to", "ops@example.org", stdout=out)

    assert "[failed] Connect" in out.getvalue()
    assert "Cause: No mail server answered at " in out.getvalue()
    assert str(failed.value).startswith("The test mail failed at Connect: No mail server")


def test_a_secret_the_server_echoes_stays_out_of_the_stored_sentences() -> None:
    """The mail log stores a failed test mail's sentences with their values: the server's reply
    among them is blanked out as the text shown on the page is."""
    secret = "s3cret-pass-echoed"
    config = ServerConfig(
        host="smtp.example.org", port=587, use_auth=True, username="mailer", password=secret
    )
    ladder = StepLadder(config)
    echoed = {"user@example.net": (550, f"5.1.1 unknown user {secret}".encode())}

    with translation.override("de"):
        ladder.failed(MailStepError(StepName.RECIPIENT, smtplib.SMTPRecipientsRefused(echoed)))

    stored = json.dumps(ladder.mail_log_words)
    assert secret not in stored
    assert secret not in "".join(ladder.mail_log)
    assert "********" in stored
    with translation.override("de"):
        assert secret not in failure_render(ladder.mail_log_words)
