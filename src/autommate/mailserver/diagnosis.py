"""The test mail: the SMTP conversation of real mail, recorded step by step and explained.

Every step of the conversation (resolve, connect, TLS, greeting, login, sender, recipient,
message) is recorded as passed, failed or skipped, and a failure carries a cause and a fix. The
whole conversation ends within a deadline, and no secret the server echoes reaches the page.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from .connection import Deadline, NotAMailServer, ServerConfig
from .conversation import converse, steps_in_order
from .explanations import explain, is_timeout, technical_detail
from .steps import Diagnosis, MailStepError, Step, StepName

logger = logging.getLogger(__name__)

# However long an operator allows, an administrator waits for the page no longer than this.
MAX_DEADLINE_SECONDS = 15.0
RAN_OUT = "The time allowed for the test mail ran out."


class StepLadder:
    """The step recorder of the test mail: what became of each step, with secrets blanked out."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.steps: dict[StepName, Step] = {}
        self.temporary = False
        # The failure in English, as the mail log stores it: (step, cause and fix, reply), and
        # its sentences, to show it in the reader's language.
        self.mail_log: tuple[str, str, str] = ("", "", "")
        self.mail_log_words: dict[str, Any] = {}
        self.secrets = self._secret_forms(config)

    @staticmethod
    def _secret_forms(config: ServerConfig) -> list[str]:
        # A server could echo what it was sent; a short password is left alone because
        # blanking every occurrence of two letters would garble the text without hiding anything.
        forms: list[str] = []
        for secret in (config.password, config.client_secret):
            if len(secret) < 4:
                continue
            plain = f"\0{config.username}\0{secret}".encode()
            forms += [
                secret,
                base64.b64encode(secret.encode()).decode(),
                base64.b64encode(plain).decode(),
            ]
        return forms

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    def scrub_words(self, data: Any) -> Any:
        """Blank out secrets in stored sentence data: in its values and plain texts, never in
        a msgid, which is the product's own words."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, list):
            return [self.scrub_words(item) for item in data]
        if isinstance(data, dict):
            return {
                key: value if key in {"msgid", "step"} else self.scrub_words(value)
                for key, value in data.items()
            }
        return data

    def passed(self, step: StepName, detail: str) -> None:
        self.steps[step] = Step(step, step.label, "passed", detail=self.scrub(detail))

    def not_used(self, step: StepName, detail: str) -> None:
        self.steps[step] = Step(step, step.label, "skipped", detail=detail)

    def failed(self, failure: MailStepError) -> None:
        explanation = explain(failure, config=self.config)
        self.temporary = explanation.temporary
        self.steps[failure.step] = Step(
            failure.step,
            failure.step.label,
            "failed",
            detail=self.scrub(technical_detail(failure.error)),
            cause=self.scrub(explanation.cause),
            fix=self.scrub(explanation.fix),
        )
        with translation.override("en"):
            english = explain(failure, config=self.config)
            label = failure.step.label
            self.mail_log = (
                label,
                self.scrub(" ".join([label + ":", english.cause, english.fix]).strip()),
                self.scrub(technical_detail(failure.error)),
            )
            self.mail_log_words = self.scrub_words(english.words())

    def diagnosis(self, elapsed_seconds: float) -> Diagnosis:
        steps: list[Step] = []
        failed = False
        for name in steps_in_order(self.config):
            step = self.steps.get(name)
            if step is None or failed:
                step = Step(
                    name, name.label, "skipped", detail=_("Not run: an earlier step failed.")
                )
            failed = failed or step.status == "failed"
            steps.append(step)
        step_name, text, reply = self.mail_log
        return Diagnosis(
            steps=steps,
            temporary=self.temporary,
            elapsed_seconds=elapsed_seconds,
            mail_log_step=step_name,
            mail_log_text=text,
            mail_log_reply=reply,
            mail_log_words=self.mail_log_words,
        )


def diagnose(
    config: ServerConfig,
    *,
    sender: str,
    recipient: str,
    message: bytes,
    deadline_seconds: float | None = None,
) -> Diagnosis:
    """Send a test mail step by step and return what happened at each step.

    The whole conversation, from DNS lookup to the server's last reply, ends within
    deadline_seconds (TEST_MAIL_TIMEOUT_SECONDS when not given, never more than 15 seconds).
    With Enable TLS, nothing but EHLO and STARTTLS is said before the connection is encrypted.
    """
    if deadline_seconds is None:
        deadline_seconds = float(settings.TEST_MAIL_TIMEOUT_SECONDS)
    seconds = max(min(float(deadline_seconds), MAX_DEADLINE_SECONDS), 0.1)
    deadline = Deadline(seconds)
    ladder = StepLadder(config)
    try:
        converse(
            config,
            sender=sender,
            recipients=[recipient],
            message=message,
            recorder=ladder,
            deadline=deadline,
        )
    except MailStepError as error:
        ran_out = deadline.expired.is_set() or (
            deadline.remaining() <= 0 and not is_timeout(error.error)
        )
        # A port that said nothing until the deadline reads as every other port without a mail
        # server: that the time ran out would tell a silent service from a closed port.
        if ran_out and not isinstance(error.error, NotAMailServer):
            # However the cut-off connection failed, it failed because the time ran out.
            error = MailStepError(error.step, TimeoutError(RAN_OUT))
        ladder.failed(error)
    finally:
        deadline.stop()
    diagnosis = ladder.diagnosis(time.monotonic() - deadline.started)
    failure = diagnosis.failure
    logger.info(
        "Test mail through %s port %s: %s after %.1f s",
        config.host,
        config.port,
        f"failed at {failure.name}" if failure else "accepted",
        diagnosis.elapsed_seconds,
    )
    return diagnosis
