"""The steps of an SMTP conversation, what became of each, and the error that names its step.

The conversation (conversation.py) raises MailStepError when a step fails, carrying the step and
the original error; the test mail turns the steps into a Diagnosis, and explain() turns the
error into words.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, NoReturn

from django.utils.translation import gettext, gettext_noop


class StepName(StrEnum):
    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    GREETING = "greeting"
    TOKEN = "token"
    LOGIN = "login"
    SENDER = "sender"
    RECIPIENT = "recipient"
    MESSAGE = "message"

    @property
    def label(self) -> str:
        """Return the step's name in the active language."""
        return gettext(STEP_LABELS[self])

    @property
    def msgid(self) -> str:
        """Return the step's name in English, as the mail log stores it."""
        return STEP_LABELS[self]


# The English labels are also what the mail log stores (DeliveryAttempt.step): they are the
# msgids, so a stored label is translated when it is shown.
STEP_LABELS: dict[StepName, str] = {
    # Translators: a step of the test mail's SMTP conversation: looking up the server's name in DNS.
    StepName.RESOLVE: gettext_noop("Resolve server name"),
    # Translators: a step of the SMTP conversation: opening the network connection.
    StepName.CONNECT: gettext_noop("Connect"),
    StepName.TLS: gettext_noop("TLS handshake"),
    # Translators: a step of the SMTP conversation; EHLO is the SMTP command, keep it.
    StepName.GREETING: gettext_noop("Greeting (EHLO)"),
    StepName.TOKEN: gettext_noop("Get access token"),
    # Translators: a step of the SMTP conversation: logging in to the mail server.
    StepName.LOGIN: gettext_noop("Log in"),
    StepName.SENDER: gettext_noop("Sender accepted"),
    StepName.RECIPIENT: gettext_noop("Recipient accepted"),
    StepName.MESSAGE: gettext_noop("Message accepted"),
}

StepStatus = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Step:
    name: StepName
    label: str
    status: StepStatus
    detail: str = ""
    cause: str = ""
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "name": str(self.name),
            "label": self.label,
            "status": self.status,
            "detail": self.detail,
            "cause": self.cause,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Diagnosis:
    """The steps of one test-mail conversation, in the order they happened."""

    steps: list[Step]
    # Whether the failure, if any, is of the kind that may go away by itself (a 4xx, a timeout).
    temporary: bool = False
    elapsed_seconds: float = field(default=0.0, compare=False)
    # The failure as the mail log stores it, in English whatever the page's language: the step's
    # label (translated when shown), the step, cause and fix, and the server's reply.
    mail_log_step: str = field(default="", compare=False)
    mail_log_text: str = field(default="", compare=False)
    mail_log_reply: str = field(default="", compare=False)
    mail_log_words: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.failure is None and any(
            step.name == StepName.MESSAGE and step.status == "passed" for step in self.steps
        )

    @property
    def failure(self) -> Step | None:
        return next((step for step in self.steps if step.status == "failed"), None)

    def step(self, name: StepName) -> Step:
        return next(step for step in self.steps if step.name == name)

    def as_dict(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "ok": self.ok,
            "failed_step": str(failure.name) if failure else None,
            "temporary": self.temporary,
            "steps": [step.as_dict() for step in self.steps],
        }


class MailStepError(Exception):
    """A step of the conversation failed: `step` says which, `error` is what the library raised."""

    def __init__(self, step: StepName, error: BaseException) -> None:
        super().__init__(f"{step.label}: {error}")
        self.step = step
        self.error = error

    def raise_original(self) -> NoReturn:
        """Raise the library's own error, chained from this one so that explain() finds the step.

        For callers that are promised smtplib's and the socket's errors, such as the users of
        Django's mail API; the original error keeps its type, its traceback and its context.
        """
        error = self.error
        context = error.__context__
        # The chain runs one way: the original names this error as its cause, and this error no
        # longer names the original, so tracebacks and error pages meet no cycle.
        self.__cause__ = None
        self.__context__ = None
        try:
            raise error from self
        finally:
            # Raising sets the context to the exception being handled; smtplib reports a timeout
            # as a disconnection whose context is the TimeoutError, and explain() looks there.
            error.__context__ = context


def step_of(error: BaseException) -> StepName | None:
    """Return the step a MailStepError names, for itself or for the error it was raised for."""
    if isinstance(error, MailStepError):
        return error.step
    cause = error.__cause__
    if isinstance(cause, MailStepError) and cause.error is error:
        return cause.step
    return None


@contextmanager
def at_step(step: StepName) -> Iterator[None]:
    """Name the step of any error raised inside, and let the error leave with its own type."""
    try:
        yield
    except MailStepError as failure:
        failure.raise_original()
    except Exception as error:
        if step_of(error) is None:
            MailStepError(step, error).raise_original()
        raise
