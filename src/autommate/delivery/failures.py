"""How a failed send is put in words for the mail log, by the domain that does the sending.

Delivery knows queues, leases and retries, not SMTP: the mail server registers the function
that explains its own errors (in its `AppConfig.ready`), as each domain registers the composers
of its messages. Without one, a failure is logged as it is and retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils.translation import gettext

from autommate.sentences import render

# A retry the server timed (greylisting) comes up to this much after the server's delay, at
# random: mails greylisted in the same second must not all come back in the same second.
SERVER_DELAY_SPREAD_SECONDS = 20.0


@dataclass(frozen=True)
class SendFailure:
    """A failed send as the mail log shows it, and whether trying again may succeed.

    `throttled` says the server asks the sender to slow down (too many messages for now), which
    pauses the whole installation's sending for a while rather than costing this message a retry.
    """

    text: str
    temporary: bool
    throttled: bool = False
    # The step of the conversation that failed, in words ("Recipient accepted"), if known.
    step: str = ""
    # The server's reply or the library's error, as it was reported.
    reply: str = ""
    # For a temporary failure: how long the server asked to wait before the next attempt
    # (a greylisting server lets a retry through only after its delay); None for the backoff.
    retry_after_seconds: float | None = None
    # The text's sentences as msgids and values (autommate.sentences), under "step", "cause",
    # "fix" (and "gave_up"): what the mail log stores to show `text` in the reader's language.
    words: dict[str, Any] = field(default_factory=dict, compare=False)
    # The mail server itself could not be reached or served no mail (not a refusal of this
    # mail): the mail waits for a probe to find the server answering, rather than its backoff.
    outage: bool = False


def failure_render(words: dict[str, Any]) -> str:
    """Return a failure's stored words in the active language: "Step: cause fix"."""
    said = " ".join(render(words[part]) for part in ("cause", "fix", "gave_up") if words.get(part))
    step = words.get("step")
    return f"{gettext(step)}: {said}" if step else said


Explainer = Callable[[BaseException], SendFailure]

_explainers: list[Explainer] = []


def register_explainer(explainer: Explainer) -> Explainer:
    """Make `explainer` the one that puts failed sends in words (the last one registered)."""
    _explainers.append(explainer)
    return explainer


def failure_explain(error: BaseException) -> SendFailure:
    """Return the mail log's words for `error`, from the registered explainer."""
    if _explainers:
        return _explainers[-1](error)
    return SendFailure(text=f"{type(error).__name__}: {error}", temporary=True)


def retry_at(failure: SendFailure | None, *, now: datetime, backoff: datetime) -> datetime:
    """Return when to try a temporarily failed mail again.

    The backoff's time, unless the server said how long to wait (a greylisting server accepts
    only a retry after its delay: the next step of the backoff could come too early, or much
    later than needed). Then just after that delay, spread over SERVER_DELAY_SPREAD_SECONDS so
    that many mails refused together do not all return in the same second.
    """
    if failure is None or failure.retry_after_seconds is None:
        return backoff
    spread = random.uniform(0.0, SERVER_DELAY_SPREAD_SECONDS)
    return now + timedelta(seconds=failure.retry_after_seconds + spread)
