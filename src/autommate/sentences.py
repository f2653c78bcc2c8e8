"""Sentences that remember how they were made, so that a stored one can be said in any language.

`sentence(msgid)` returns the translation in the active language, as gettext does, but as a
`Sentence`: a str that also keeps its msgid and, once formatted with `%`, its values. The mail
log stores a failure's sentences with `as_data()` (JSON: msgids and values, never a translation)
and `render()` says them again in the language of whoever reads the log. A plain str is stored
as it is and rendered as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

# What a sentence is stored as: its words as they were, or its msgid and values.
Data = str | dict[str, Any]


class Sentence(str):
    """A translated str that knows its msgid and values (or the sentences it joins)."""

    msgid: str
    params: dict[str, object] | None
    parts: tuple[object, ...]

    def __new__(
        cls,
        text: str,
        msgid: str = "",
        params: Mapping[str, object] | None = None,
        parts: tuple[object, ...] = (),
    ) -> Sentence:
        made = super().__new__(cls, text)
        made.msgid = msgid
        made.params = dict(params) if params is not None else None
        made.parts = parts
        return made

    def __mod__(self, values: Any) -> Sentence:
        if not isinstance(values, Mapping) or not self.msgid:
            return Sentence(str.__mod__(self, values))
        return Sentence(str.__mod__(self, values), self.msgid, values)

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        # A copy or a pickle is the text alone; only the mail log stores the structure.
        return (str, (str(self),))

    def as_data(self) -> Data:
        if self.parts:
            return {"join": [as_data(part) for part in self.parts]}
        if not self.msgid:
            return str(self)
        data: dict[str, Any] = {"msgid": self.msgid}
        if self.params is not None:
            data["params"] = {name: as_data(value) for name, value in self.params.items()}
        return data


def sentence(msgid: str) -> Sentence:
    """Return gettext(msgid) as a Sentence that remembers its msgid."""
    return Sentence(gettext(msgid), msgid)


def joined(*parts: str) -> Sentence:
    """Return whole sentences said one after the other, as one Sentence."""
    return Sentence(" ".join(parts), parts=parts)


def as_data(value: object) -> Data:
    """Return what to store for `value`: a Sentence's structure, anything else as text."""
    if isinstance(value, Sentence):
        return value.as_data()
    return str(value)


def render(data: Data) -> str:
    """Say stored sentence data again, in the active language.

    A translation that does not take the stored values (a catalogue changed since) gives way to
    the English, and values that fit neither to the bare msgid, so that reading never fails.
    """
    if isinstance(data, str):
        return data
    if "join" in data:
        return " ".join(render(part) for part in data["join"])
    msgid = str(data.get("msgid", ""))
    params = data.get("params")
    if params is None:
        return gettext(msgid)
    values = {name: render(value) for name, value in params.items()}
    for text in (gettext(msgid), msgid):
        try:
            return text % values
        except (KeyError, TypeError, ValueError):
            continue
    return msgid
