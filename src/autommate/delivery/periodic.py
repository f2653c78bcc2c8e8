"""Jobs every worker runs now and then on its housekeeping thread, registered by any domain.

Delivery runs the workers, but knows nothing of the domains above it: a domain that needs work
done periodically (recovery notes the invitations that expired unused) registers a job here, in
its `AppConfig.ready`, as it registers the composers of its messages. Every worker runs every
job, so a job must be safe to run in several processes at once (do each piece of work under a
condition that only one run can meet) and cheap when there is nothing to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError

logger = logging.getLogger(__name__)

# A job returns how many things it did, for the log; 0 logs nothing.
Job = Callable[[], int]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: Job
    # What the log says when the job did something: "%d expired invitations recorded".
    done_message: str


_jobs: dict[str, PeriodicJob] = {}


def register_periodic(
    name: str, *, every_seconds: float, done_message: str
) -> Callable[[Job], Job]:
    """Register `job` under `name` (registering a name again replaces the job)."""

    def decorator(job: Job) -> Job:
        _jobs[name] = PeriodicJob(name, every_seconds, job, done_message)
        return job

    return decorator


def periodic_jobs() -> list[PeriodicJob]:
    return list(_jobs.values())


class PeriodicRunner:
    """Runs each registered job when its interval has passed since its last run in this process.

    Every job is due at the first round, so a worker that starts catches up at once.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_run: dict[str, float] = {}

    def run_due(self) -> dict[str, int]:
        """Run the jobs that are due; return what each did. A database error is raised (the
        worker waits for the database); any other failure of a job is logged, and the other
        jobs still run."""
        done: dict[str, int] = {}
        for job in periodic_jobs():
            last = self._last_run.get(job.name)
            now = self._clock()
            if last is not None and now - last < job.every_seconds:
                continue
            self._last_run[job.name] = now
            try:
                done[job.name] = count = job.run()
            except DatabaseError:
                raise
            except Exception:
                logger.exception("The periodic job %s failed", job.name)
                continue
            if count:
                logger.info(job.done_message, count)
        return done
