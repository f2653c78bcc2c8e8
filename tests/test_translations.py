"""The translations: complete catalogues, matching placeholders, compiled files that match their
sources, no unmarked text in a template, and pages that read in the chosen language."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

import autommate

PACKAGE = Path(autommate.__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
CATALOGUES = sorted(PACKAGE.glob("**/locale/*/LC_MESSAGES/django.po"))
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
# The developer's mail viewer stays English.
UNTRANSLATED_TEMPLATE_DIRS = {"devmail"}
# Names that read the same in every language.
NAMES = {
    "Autom",
    "Mate",
    "OAuth",
    "SMTP",
    "SMTPS",
    "STARTTLS",
    "TLS",
    "UTC",
    "Microsoft",
    "Gmail",
    "Google",
    "Workspace",
    "EHLO",
    "DNS",
}


def _templates() -> list[Path]:
    return sorted(
        path
        for path in TEMPLATES.rglob("*")
        if path.is_file()
        and path.suffix in {".html", ".txt"}
        and path.relative_to(TEMPLATES).parts[0] not in UNTRANSLATED_TEMPLATE_DIRS
    )


def _id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


# Catalogues


def test_every_language_has_the_project_catalogue() -> None:
    for code in TRANSLATED:
        assert (PACKAGE / "locale" / code / "LC_MESSAGES" / "django.po").is_file(), code


@pytest.mark.parametrize("path", CATALOGUES, ids=_id)
def test_catalogue_is_complete(path: Path) -> None:
    catalogue = polib.pofile(str(path))
    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert not untranslated, f"untranslated in {path}: {untranslated}"
    assert not fuzzy, f"fuzzy in {path}: {fuzzy}"
    assert catalogue.translated_entries(), f"{path} translates nothing"


PERCENT = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[sdifr]|%%")
BRACES = re.compile(r"\{(\w*)\}")


def placeholders(text: str) -> tuple[list[str], list[str]]:
    """Return the `%(name)s` and `{name}` placeholders of `text`, sorted."""
    return sorted(PERCENT.findall(text)), sorted(BRACES.findall(text))


@pytest.mark.parametrize("path", CATALOGUES, ids=_id)
def test_translations_keep_every_placeholder(path: Path) -> None:
    wrong = []
    for entry in polib.pofile(str(path)).translated_entries():
        if entry.msgid_plural:
            expected = placeholders(entry.msgid_plural)
            for translation_ in entry.msgstr_plural.values():
                if placeholders(translation_) != expected:
                    wrong.append((entry.msgid, translation_))
        elif placeholders(entry.msgstr) != placeholders(entry.msgid):
            wrong.append((entry.msgid, entry.msgstr))
    assert not wrong


def test_placeholder_check_sees_a_lost_placeholder() -> None:
    assert placeholders("Hello %(name)s, {count}") != placeholders("Hallo, {count}")
    assert placeholders("%(a)s and %(b)d") == placeholders("%(b)d und %(a)s")


def _translations(entries: Iterable[Any]) -> dict[tuple[str | None, str], object]:
    """Return the translations of a catalogue, by context and source, without fuzzy ones."""
    found: dict[tuple[str | None, str], object] = {}
    for entry in entries:
        if entry.obsolete or "fuzzy" in getattr(entry, "flags", ()):
            continue
        value = tuple(sorted(entry.msgstr_plural.items())) if entry.msgid_plural else entry.msgstr
        if value and value != ("",):
            found[(entry.msgctxt, entry.msgid)] = value
    return found


@pytest.mark.parametrize("path", CATALOGUES, ids=_id)
def test_compiled_catalogue_matches_its_source(path: Path) -> None:
    compiled = path.with_suffix(".mo")
    assert compiled.is_file(), f"{compiled} is missing: run make messages"
    source = _translations(polib.pofile(str(path)))
    source.pop((None, ""), None)
    built = _translations(polib.mofile(str(compiled)))
    built.pop((None, ""), None)
    assert built == source, f"{compiled} is out of date: run make messages"


def test_out_of_date_compiled_catalogue_is_seen() -> None:
    source = polib.pofile(str(PACKAGE / "locale" / "de" / "LC_MESSAGES" / "django.po"))
    compiled = polib.mofile(str(PACKAGE / "locale" / "de" / "LC_MESSAGES" / "django.mo"))
    assert _translations(source) == _translations(compiled)
    source.translated_entries()[0].msgstr += " (changed)"
    assert _translations(source) != _translations(compiled)


# Templates


COMMENTS = re.compile(r"\{#.*?#\}|\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.DOTALL)
BLOCK_TRANSLATIONS = re.compile(
    r"\{%\s*blocktranslate\b.*?%\}.*?\{%\s*endblocktranslate\s*%\}", re.DOTALL
)
# Blocks that hold markup settings, such as CSS classes, rather than text.
SETTING_BLOCKS = re.compile(r"\{%\s*block\s+main_class\s*%\}.*?\{%\s*endblock\s*%\}", re.DOTALL)
TRANSLATIONS = re.compile(r"\{%\s*translate\b.*?%\}", re.DOTALL)
VARIABLES = re.compile(r"\{\{.*?\}\}", re.DOTALL)
TAGS = re.compile(r"\{%.*?%\}", re.DOTALL)
SCRIPTS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
ELEMENTS = re.compile(r"<[^>]*>", re.DOTALL)
ENTITIES = re.compile(r"&#?\w+;")
# Addresses in plain-text mails, such as {{ base_url }}/settings/mail/.
PATHS = re.compile(r"\S*/\S*")
WORDS = re.compile(r"[^\W\d_]{2,}")
TEXT_ATTRIBUTES = re.compile(
    r"""\s(aria-label|title|placeholder|alt)\s*=\s*(["'])(.*?)\2""", re.DOTALL | re.IGNORECASE
)
BUTTON_INPUTS = re.compile(r"<input\b[^>]*\btype=[\"']?(?:submit|button|reset)\b[^>]*>", re.I)
VALUES = re.compile(r"""\svalue\s*=\s*(["'])(.*?)\1""", re.DOTALL | re.IGNORECASE)


def _untranslatable_words(text: str) -> list[str]:
    return [word for word in WORDS.findall(text) if word not in NAMES]


def unmarked_text(source: str) -> list[str]:
    """Return the words of a template that reach a reader without being marked for translation.

    Text in `{% translate %}` and `{% blocktranslate %}`, variables, tags, comments, scripts
    and styles is not the template's own; what is left of the markup once the elements are
    gone, and the readable attributes, must hold no words but names.
    """
    text = COMMENTS.sub(" ", source)
    text = BLOCK_TRANSLATIONS.sub(" ", text)
    text = SETTING_BLOCKS.sub(" ", text)
    text = TRANSLATIONS.sub(" ", text)
    text = VARIABLES.sub(" ", text)
    text = TAGS.sub(" ", text)
    text = SCRIPTS.sub(" ", text)
    found: list[str] = []
    for _name, _quote, value in TEXT_ATTRIBUTES.findall(text):
        found.extend(_untranslatable_words(value))
    for button in BUTTON_INPUTS.findall(text):
        for _quote, value in VALUES.findall(button):
            found.extend(_untranslatable_words(value))
    text = ELEMENTS.sub(" ", text)
    text = ENTITIES.sub(" ", html.unescape(text))
    text = PATHS.sub(" ", text)
    found.extend(_untranslatable_words(text))
    return found


@pytest.mark.parametrize("path", _templates(), ids=_id)
def test_template_marks_every_text_for_translation(path: Path) -> None:
    assert unmarked_text(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "<p>Hello</p>",
        '<p>{% translate "Hello" %} world</p>',
        '<button aria-label="Close">{% translate "X" %}</button>',
        '<img alt="Our logo" src="x.png">',
        '<input type="text" placeholder="Your name">',
        '<a title="{{ name }} details" href="/">{% translate "Open" %}</a>',
        '<input type="submit" value="Send">',
        "{% if x %}Save{% endif %}",
        "{% blocktranslate %}Marked{% endblocktranslate %} unmarked",
    ],
)
def test_checker_finds_unmarked_text(source: str) -> None:
    assert unmarked_text(source)


@pytest.mark.parametrize(
    "source",
    [
        '{% load i18n %}<p>{% translate "Hello" %}</p>',
        "<h1>{% blocktranslate trimmed with n=name %}Hi {{ n }}{% endblocktranslate %}</h1>",
        '<nav aria-label="{% translate "Main" %}">{{ menu }}</nav>',
        "{# A note for developers #}<p>{{ text }}</p>",
        "{% comment %}Why this is so{% endcomment %}",
        '<script>const words = "not text";</script><a class="brand" href="/">Autom Mate</a>',
        '<input type="hidden" name="form" value="profile">',
    ],
)
def test_checker_accepts_marked_text(source: str) -> None:
    assert unmarked_text(source) == []


# Pages


HEADINGS = ("h1", "h2", "legend", "button")
LABELS = (*HEADINGS, "label")


def _texts(page: str, elements: tuple[str, ...]) -> list[str]:
    """Return the text of the `elements` (such as headings and labels) of a page, in order."""
    pattern = re.compile(rf"<({'|'.join(elements)})\b[^>]*>(.*?)</\1>", re.DOTALL)
    texts = []
    for _tag, inner in pattern.findall(page):
        text = " ".join(html.unescape(ELEMENTS.sub(" ", inner)).split())
        if _untranslatable_words(text):
            texts.append(text)
    return texts


def _page_in(client: Client, path: str, language: str) -> str:
    with translation.override(language):
        response = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def _assert_translated(client: Client, path: str, elements: tuple[str, ...] = LABELS) -> None:
    english = _texts(_page_in(client, path, "en"), elements)
    assert english, f"{path} has no headings or labels to compare"
    for language in TRANSLATED:
        texts = _texts(_page_in(client, path, language), elements)
        assert len(texts) == len(english), (language, texts)
        left = [text for text, source in zip(texts, english, strict=True) if text == source]
        assert not left, f"English left on {path} in {language}: {left}"


@pytest.mark.django_db
def test_login_page_reads_in_each_language(forgot_password_on) -> None:
    _assert_translated(Client(), "/login/")


@pytest.mark.django_db
def test_forgot_password_page_reads_in_each_language(forgot_password_on) -> None:
    _assert_translated(Client(), "/forgot-password/")


@pytest.mark.django_db
def test_reset_page_reads_in_each_language(forgot_password_on, regular_user) -> None:
    from autommate.recovery import services

    client = Client()
    token = services.link_issue(user=regular_user, expires_at=timezone.now() + timedelta(hours=1))
    assert client.get(f"/reset-password/{token}/").status_code == 302
    _assert_translated(client, "/reset-password/")


@pytest.mark.django_db
def test_mail_server_page_reads_in_each_language(admin_client) -> None:
    # The labels of its fields are the mail server's own catalogue's; its layout is this one's.
    _assert_translated(admin_client, "/settings/mail/", HEADINGS)


@pytest.mark.django_db
def test_page_stays_english_without_a_language(client) -> None:
    page = client.get("/login/").content.decode()
    assert "<h1>Log in</h1>" in page


@pytest.mark.django_db
@pytest.mark.parametrize("language", TRANSLATED)
def test_api_error_message_follows_the_language_and_its_code_does_not(language: str) -> None:
    english = Client().get("/api/v1/users", HTTP_ACCEPT_LANGUAGE="en").json()
    with translation.override(language):
        translated = Client().get("/api/v1/users", HTTP_ACCEPT_LANGUAGE=language).json()
    assert translated["code"] == english["code"] == "not_authenticated"
    assert translated["message"] != english["message"]


@pytest.mark.django_db
def test_mail_log_shows_a_stored_reason_in_the_reader_s_language(admin_client) -> None:
    from autommate.delivery.models import Kind, OutgoingMessage, State
    from autommate.recovery.services import DROPPED_SWITCHED_OFF

    OutgoingMessage.objects.create(
        kind=Kind.RESET,
        recipient="mike@example.org",
        state=State.FAILED,
        last_error=DROPPED_SWITCHED_OFF,
    )
    for language in TRANSLATED:
        with translation.override(language):
            expected = html.escape(translation.gettext(DROPPED_SWITCHED_OFF), quote=True)
        assert expected != html.escape(DROPPED_SWITCHED_OFF, quote=True)
        page = _page_in(admin_client, "/settings/mail/log/", language)
        assert expected in page
    assert DROPPED_SWITCHED_OFF in _page_in(admin_client, "/settings/mail/log/", "en")


@pytest.mark.parametrize(
    ("language", "seconds", "expected"),
    [
        ("de", 1, "Zu viele Anfragen. Versuchen Sie es in 1 Sekunde erneut."),
        ("de", 120, "Zu viele Anfragen. Versuchen Sie es in 2 Minuten erneut."),
        ("tr", 3 * 3600, "Çok fazla istek. 3 saat sonra yeniden deneyin."),
    ],
)
def test_wait_reads_in_the_language_with_its_plural(
    language: str, seconds: int, expected: str
) -> None:
    from autommate.ratelimits.services import RateLimited

    with translation.override(language):
        assert RateLimited(seconds).message == expected
    assert RateLimited(seconds).message.startswith("Too many requests. Try again in ")


# Mails


MAILS = [
    "recovery/emails/reset_password",
    "recovery/emails/invitation",
    "recovery/emails/password_changed",
    "recovery/emails/mail_alert",
    "mailserver/emails/test_mail",
]


def _mail_context() -> dict[str, object]:
    from autommate.accounts.models import User

    moment = timezone.now()
    failing = {"failed": 3, "since": moment, "last_step": "", "last_reason": ""}
    return {
        "product_name": "Autom Mate",
        "base_url": "http://127.0.0.1:8000",
        "user": User(email="mike@example.org", full_name="Mike User"),
        "link": "http://127.0.0.1:8000/reset-password/token/",
        "lifetime_minutes": 60,
        "expires_at": moment,
        "changed_at": moment,
        "client_address": "192.0.2.7",
        "state": failing,
        "code": "123456",
        "confirm_url": "http://127.0.0.1:8000/settings/mail/confirm/token/",
    }


def _mail_lines(name: str, language: str) -> list[str]:
    from django.template.loader import render_to_string

    lines = []
    with translation.override(language):
        for suffix in (".subject.txt", ".txt", ".html"):
            text = SCRIPTS.sub(" ", render_to_string(name + suffix, _mail_context()))
            for line in ELEMENTS.sub("\n", text).split("\n"):
                if _untranslatable_words(PATHS.sub(" ", line)):
                    lines.append(" ".join(line.split()))
    return lines


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("name", MAILS)
def test_mail_reads_in_each_language(name: str, language: str) -> None:
    english = _mail_lines(name, "en")
    translated = _mail_lines(name, language)
    assert english
    assert translated
    # Each line of text, split at the markup; a link inside a sentence may fall elsewhere.
    left = [line for line in translated if line in english]
    assert not left, f"English left in {name} in {language}: {left}"
