"""A stored sentence is said again in the reader's language, and never fails to be read."""

from __future__ import annotations

import copy
import pickle

from django.utils import translation

from autommate.sentences import Sentence, as_data, joined, render, sentence


def test_a_sentence_reads_as_its_translation_and_keeps_its_msgid() -> None:
    with translation.override("de"):
        made = sentence("Timed out.")

    assert made == "Zeitüberschreitung."
    assert as_data(made) == {"msgid": "Timed out."}


def test_a_formatted_sentence_is_said_again_in_another_language_with_its_values() -> None:
    with translation.override("en"):
        made = sentence("The server refused the message (“%(reply)s”).") % {"reply": "554 spam"}
    stored = as_data(made)

    with translation.override("de"):
        german = render(stored)
    with translation.override("tr"):
        turkish = render(stored)

    assert made == "The server refused the message (“554 spam”)."
    assert stored == {
        "msgid": "The server refused the message (“%(reply)s”).",
        "params": {"reply": "554 spam"},
    }
    assert german == "Der Server hat die Nachricht abgelehnt („554 spam“)."
    assert turkish == "Sunucu iletiyi reddetti (“554 spam”)."


def test_sentences_inside_sentences_and_joined_sentences_are_said_again_whole() -> None:
    with translation.override("en"):
        where = sentence("%(host)s (port %(port)s)") % {"host": "smtp.example.org", "port": 587}
        cause = sentence("%(where)s closed the connection during the TLS handshake.") % {
            "where": where
        }
        both = joined(sentence("Timed out."), cause)

    with translation.override("de"):
        german = render(as_data(both))

    assert both == (
        "Timed out. smtp.example.org (port 587) closed the connection during the TLS handshake."
    )
    assert german == (
        "Zeitüberschreitung. smtp.example.org (Port 587) hat die Verbindung während des "
        "TLS-Handshakes geschlossen."
    )


def test_plain_text_is_stored_and_rendered_as_it_is() -> None:
    assert as_data("554 5.7.1 spam") == "554 5.7.1 spam"
    assert render("554 5.7.1 spam") == "554 5.7.1 spam"
    assert as_data(Sentence("no msgid")) == "no msgid"


def test_stored_values_that_no_longer_fit_are_read_without_failing() -> None:
    refused = "The server refused the message (“%(reply)s”)."

    with translation.override("de"):
        unknown = render({"msgid": "%(reply)s, refused", "params": {"reply": "554"}})
        misfit = render({"msgid": refused, "params": {"other": "554"}})

    assert unknown == "554, refused"
    assert misfit == refused


def test_a_copied_or_pickled_sentence_is_its_text() -> None:
    made = sentence("Timed out.")

    assert pickle.loads(pickle.dumps(made)) == "Timed out."
    assert copy.deepcopy(made) == "Timed out."
