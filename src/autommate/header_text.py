"""What text may go into a mail header or an SMTP command: one line, without control characters.

Python's email library splits header values at every line boundary Unicode knows (CR and LF,
but also U+2028, U+2029, U+0085, and \\x0b, \\x0c, \\x1c-\\x1e) and refuses to write a header
holding one, so a sender name with a line separator would make every mail fail. The other C0
and C1 controls (\\x00, \\x1f, \\x7f, \\x80-\\x9f ...) travel as they are and garble what the
recipient or the server sees. Every field that ends up in a header or an SMTP command refuses
them all, and text saved before that rule is cleaned when a mail is written.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Controls (C0, DEL, C1), line separators and paragraph separators.
_UNSAFE_CATEGORIES = {"Cc", "Zl", "Zp"}
# The characters str.splitlines() breaks at, as the email library does.
_LINE_BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def first_unsafe_character(text: str) -> str | None:
    """Return the first character of `text` that no header can carry, or None."""
    return next((c for c in text if unicodedata.category(c) in _UNSAFE_CATEGORIES), None)


def check_header_text(text: str, label: str) -> None:
    """Raise ValidationError when `text` holds a line break or a control character.

    `label` names the field in the message, such as "The sender name", in the reader's language.
    """
    found = first_unsafe_character(text)
    if found is None:
        return
    code_point = f"U+{ord(found):04X}"
    if found in _LINE_BREAKS:
        raise ValidationError(
            _("%(label)s must be on one line: it holds a line break (%(code_point)s).")
            % {"label": label, "code_point": code_point},
            code="line_break",
        )
    raise ValidationError(
        _("%(label)s cannot hold control characters: it holds %(code_point)s.")
        % {"label": label, "code_point": code_point},
        code="control_character",
    )


def header_safe(text: str) -> str:
    """Return `text` with every character no header can carry turned into a space, on one line."""
    cleaned = "".join(" " if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text)
    return " ".join(cleaned.split())
