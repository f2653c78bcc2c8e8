"""SQLite for several processes that write at once: writers queue for the lock, in turn.

SQLite lets one connection write at a time. A connection that finds the write lock taken waits
in SQLite's busy handler, which sleeps 1, 2, 5, 10, ... and then 100 ms between tries, whether or
not the lock came free meanwhile. Under a burst of requests (several threads in each web process,
and the task worker) writers slept long after the lock was free: a slow tail of requests, and a
database idle while every writer slept.

Here a write transaction (Django's SQLite transactions begin IMMEDIATE, taking the write lock)
first takes the *write turn*, and gives it back at COMMIT or ROLLBACK:

- threads of one process queue on a `threading.Lock`, which wakes the next at once;
- the one thread per process that holds it takes an exclusive `flock` on a file beside the
  database (`<database>-write-turn`), retried every 0.1 to 1 ms while another process has it,
  and says that its process is waiting by a shared `flock` on a second file
  (`<database>-write-queue`) meanwhile;
- a thread that gives the turn back while another process is waiting holds its own process's
  threads back for up to `HANDOVER_SECONDS`, until that process has taken the turn: a busy
  process (the task worker's sending threads) cannot keep the turn among its own threads while
  a web request in another process waits.

A turn not had within the connection's `timeout` fails as SQLite would ("database is locked").
Statements outside a transaction meet only SQLite's own lock. In-memory databases have no file
and no turn.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from typing import Any

from django.db.backends.sqlite3 import base

FIRST_RETRY_SECONDS = 0.0001
LONGEST_RETRY_SECONDS = 0.001
HANDOVER_SECONDS = 0.003

_process_turns: dict[str, threading.Lock] = {}
_process_turns_lock = threading.Lock()


def _forget_turns_after_fork() -> None:
    # A lock held by a thread of the parent stays held for ever in the child, where that thread
    # does not exist: a forked child starts with fresh locks.
    global _process_turns_lock
    _process_turns.clear()
    _process_turns_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_turns_after_fork)


def _process_turn(path: str) -> threading.Lock:
    with _process_turns_lock:
        return _process_turns.setdefault(path, threading.Lock())


def _try_flock(descriptor: int, operation: int) -> bool:
    try:
        fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class WriteTurn:
    """The right to write to one database file: one thread of one process at a time."""

    def __init__(self, database_path: str, timeout: float) -> None:
        self.timeout = timeout
        self.threads = _process_turn(database_path)
        # Empty files, only locked: reading is enough for `flock`, so a file another account
        # created (an operator's command run as root) still serves; new ones are as readable as
        # the database.
        flags = os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC
        mode = os.stat(database_path).st_mode & 0o666
        self.turn = os.open(f"{database_path}-write-turn", flags, mode)
        self.queue = os.open(f"{database_path}-write-queue", flags, mode)
        self.held = False

    def take(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self.threads.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            if not _try_flock(self.turn, fcntl.LOCK_EX):
                self._wait_for_turn(deadline)
        except BaseException:
            self.threads.release()
            raise
        self.held = True

    def _wait_for_turn(self, deadline: float) -> None:
        fcntl.flock(self.queue, fcntl.LOCK_SH)  # This process waits.
        try:
            delay = FIRST_RETRY_SECONDS
            while not _try_flock(self.turn, fcntl.LOCK_EX):
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked")
                time.sleep(delay)
                delay = min(delay * 2, LONGEST_RETRY_SECONDS)
        finally:
            fcntl.flock(self.queue, fcntl.LOCK_UN)

    def give_back(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            fcntl.flock(self.turn, fcntl.LOCK_UN)
            self._hand_over()
        finally:
            self.threads.release()

    def _hand_over(self) -> None:
        """Hold this process's threads back until a waiting process has taken the turn."""
        until = time.monotonic() + HANDOVER_SECONDS
        while not _try_flock(self.queue, fcntl.LOCK_EX):  # Another process waits.
            if time.monotonic() >= until:
                return
            time.sleep(FIRST_RETRY_SECONDS)
        fcntl.flock(self.queue, fcntl.LOCK_UN)

    def close(self) -> None:
        self.give_back()
        os.close(self.turn)
        os.close(self.queue)


class DatabaseWrapper(base.DatabaseWrapper):
    write_turn: WriteTurn | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            self.write_turn = WriteTurn(
                str(self.settings_dict["NAME"]), float(conn_params.get("timeout", 5.0))
            )
        return connection

    def _start_transaction_under_autocommit(self) -> None:
        if self.write_turn is None:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
            return
        with self.wrap_database_errors:  # "database is locked" as Django's OperationalError.
            self.write_turn.take()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self.write_turn.give_back()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            if self.write_turn is not None:
                self.write_turn.give_back()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            if self.write_turn is not None:
                self.write_turn.give_back()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]
        finally:
            if self.write_turn is not None:
                self.write_turn.close()
                self.write_turn = None
