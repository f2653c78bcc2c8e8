"""Where the suite's metrics go: a directory per test process."""

from __future__ import annotations

import os


def metrics_directory_of_this_process(directory: str) -> str:
    """Return `directory`, or with pytest-xdist a directory of this worker's own below it.

    Counters moved by one worker's tests must not show in another's scrape. Processes a test
    starts inherit the worker's directory as it is.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or os.path.basename(directory) == worker:
        return directory
    own = os.path.join(directory, worker)
    os.makedirs(own, exist_ok=True)
    return own
