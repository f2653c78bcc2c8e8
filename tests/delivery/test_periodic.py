"""The periodic jobs other domains register, run by every worker's housekeeping."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError

from autommate.delivery import periodic
from autommate.delivery.periodic import PeriodicRunner, register_periodic


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def no_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(periodic, "_jobs", {})


def test_a_job_runs_at_once_then_each_time_its_interval_has_passed(no_jobs) -> None:
    runs: list[float] = []
    clock = Clock()

    def count() -> int:
        runs.append(clock.now)
        return 0

    register_periodic("count", every_seconds=60, done_message="%d")(count)
    runner = PeriodicRunner(clock)

    runner.run_due()
    clock.now += 59
    runner.run_due()
    clock.now += 1
    runner.run_due()

    assert runs == [1000.0, 1060.0]


def test_a_failing_job_is_logged_and_the_others_still_run(
    no_jobs, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> int:
        raise RuntimeError("out of order")

    register_periodic("broken", every_seconds=1, done_message="%d")(broken)
    register_periodic("works", every_seconds=1, done_message="Did %d things")(lambda: 3)

    with caplog.at_level(logging.INFO, logger="autommate.delivery.periodic"):
        done = PeriodicRunner(Clock()).run_due()

    assert done == {"works": 3}
    assert "The periodic job broken failed" in caplog.text
    assert "Did 3 things" in caplog.text


def test_a_database_error_reaches_the_worker_which_waits_for_the_database(no_jobs) -> None:
    def database_away() -> int:
        raise OperationalError("server closed the connection unexpectedly")

    register_periodic("needs the database", every_seconds=1, done_message="%d")(database_away)

    with pytest.raises(OperationalError):
        PeriodicRunner(Clock()).run_due()
