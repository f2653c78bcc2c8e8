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

SQLite checkpoints the write-ahead log (copies its pages into the database file and syncs it)
inside the COMMIT that grows it past 1,000 pages: here while that connection still held the
write turn, so every writer waited for the copy (tens of milliseconds, once every 70 or so
forgot-password requests). These connections do not checkpoint (`wal_autocheckpoint=0`); a
thread of each process does (`Checkpointer`), after CHECKPOINT_AFTER_COMMITS of its commits or,
once anything was written, within CHECKPOINT_IDLE_SECONDS: in SQLite's PASSIVE mode, which waits
for no reader or writer, and then, in a write turn of its own, for the few pages written
meanwhile, so that the log is checkpointed to its end and starts again from its beginning.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from typing import Any

from django.db.backends.sqlite3 import base

FIRST_RETRY_SECONDS = 0.0001
LONGEST_RETRY_SECONDS = 0.001
HANDOVER_SECONDS = 0.003
CHECKPOINT_AFTER_COMMITS = 32
CHECKPOINT_IDLE_SECONDS = 1.0
CHECKPOINT_TURN_SECONDS = 5.0

logger = logging.getLogger(__name__)

_process_turns: dict[str, threading.Lock] = {}
_process_turns_lock = threading.Lock()
_checkpointers: dict[str, Checkpointer] = {}


def _forget_turns_after_fork() -> None:
    # A lock held by a thread of the parent stays held for ever in the child, where that thread
    # does not exist: a forked child starts with fresh locks, and its own checkpointers.
    global _process_turns_lock
    _process_turns.clear()
    _process_turns_lock = threading.Lock()
    _checkpointers.clear()


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


class Checkpointer:
    """A thread that checkpoints one database's write-ahead log for this process's connections.

    Woken after CHECKPOINT_AFTER_COMMITS commits, and otherwise every CHECKPOINT_IDLE_SECONDS to
    look whether the log changed since its last checkpoint (writes outside a transaction are not
    counted as commits). A checkpoint another process is running meanwhile makes this one return
    at once; the next does the rest. It ends when the database file is gone.
    """

    def __init__(self, database_path: str) -> None:
        self.database_path = database_path
        self.log_path = f"{database_path}-wal"
        self.commits = 0
        self.checkpoints = 0  # Completed, for the tests.
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run, name=f"checkpoint {os.path.basename(database_path)}", daemon=True
        )
        self.thread.start()

    @classmethod
    def of(cls, database_path: str) -> Checkpointer:
        """Return the process's checkpointer of `database_path`, started anew if it had ended."""
        with _process_turns_lock:
            checkpointer = _checkpointers.get(database_path)
            if checkpointer is None or not checkpointer.thread.is_alive():
                checkpointer = _checkpointers[database_path] = cls(database_path)
            return checkpointer

    def committed(self) -> None:
        with self.lock:
            self.commits += 1
            if self.commits >= CHECKPOINT_AFTER_COMMITS:
                self.wake.set()

    def _log_state(self) -> tuple[float, int] | None:
        try:
            status = os.stat(self.log_path)
        except FileNotFoundError:
            return None
        return status.st_mtime, status.st_size

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection, turn: WriteTurn) -> None:
        """Copy the log into the database while writers go on, then the little they appended
        meanwhile in their turn: a log checkpointed to its end starts again from its beginning
        at the next write, rather than growing for as long as writers keep coming."""
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        turn.take()
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            turn.give_back()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(
                self.database_path, timeout=0, isolation_level=None, check_same_thread=False
            )
            turn = WriteTurn(self.database_path, CHECKPOINT_TURN_SECONDS)
        except (sqlite3.Error, OSError) as error:  # The next connection starts another.
            logger.warning("Cannot checkpoint %s: %s", self.database_path, error)
            self._forget()
            return
        checkpointed = self._log_state()
        try:
            while os.path.exists(self.database_path):
                self.wake.wait(CHECKPOINT_IDLE_SECONDS)
                self.wake.clear()
                with self.lock:
                    commits, self.commits = self.commits, 0
                state = self._log_state()
                if not commits and state == checkpointed:
                    continue
                try:
                    self._checkpoint(connection, turn)
                except sqlite3.Error as error:  # Locked or busy: the next round does it.
                    logger.debug("No checkpoint of %s this time: %s", self.database_path, error)
                    continue
                checkpointed = self._log_state()
                self.checkpoints += 1
        finally:
            connection.close()
            turn.close()
            self._forget()

    def _forget(self) -> None:
        with _process_turns_lock:
            if _checkpointers.get(self.database_path) is self:
                del _checkpointers[self.database_path]


class DatabaseWrapper(base.DatabaseWrapper):
    write_turn: WriteTurn | None = None
    checkpointer: Checkpointer | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            path = str(self.settings_dict["NAME"])
            self.write_turn = WriteTurn(path, float(conn_params.get("timeout", 5.0)))
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self.checkpointer = Checkpointer.of(path)
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
        if self.checkpointer is not None:
            self.checkpointer.committed()

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
