"""The SQLite backend's write turn: writers of several threads and processes queue, in turn.

Each test uses a database file of its own through `autommate.sqlite3`, whichever database the
suite itself runs on.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from autommate.sqlite3 import base as write_turn

REPO = Path(__file__).resolve().parent.parent

OPEN = """
import sys
import django
from django.conf import settings
settings.configure(USE_TZ=True)
django.setup()
from django.db.utils import ConnectionHandler

from autommate.sqlite3 import base as write_turn
connection = ConnectionHandler({"default": {
    "ENGINE": "autommate.sqlite3",
    "NAME": sys.argv[1],
    "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL"},
}})["default"]

def write(sql, params=()):
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        connection.commit()
    finally:
        connection.set_autocommit(True)
"""


def database_settings(path: Path, timeout: float = 20.0) -> dict[str, Any]:
    return {
        "ENGINE": "autommate.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": timeout,
            "init_command": "PRAGMA journal_mode=WAL",
        },
    }


def connect(path: Path, timeout: float = 20.0) -> Any:
    """Open a connection of this thread's own to the database file at `path`."""
    return ConnectionHandler({"default": database_settings(path, timeout)})["default"]


@pytest.fixture(autouse=True)
def own_database_files(django_db_blocker: Any) -> Iterator[None]:
    # These connections go to files of the tests' own, never to the suite's database.
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "turns.sqlite3"
    connection = connect(path)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (1, 0)")
        cursor.execute("CREATE TABLE arrival (id INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)")
    connection.close()
    return path


@contextmanager
def transaction(connection: Any) -> Iterator[Any]:
    """Django's `atomic()` on one connection: begin (taking the turn), commit or roll back."""
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        with connection.cursor() as cursor:
            yield cursor
    except BaseException:
        connection.rollback()
        raise
    else:
        connection.commit()
    finally:
        connection.set_autocommit(True)


def a_process_waits(path: Path) -> bool:
    """Say whether some process has announced that it waits for the turn."""
    descriptor = os.open(f"{path}-write-queue", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def wait_until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_writers_in_several_processes_and_threads_each_write_once(database: Path) -> None:
    # Read, then write, in one transaction: any two writers inside at once would lose an
    # increment; a writer that gave up would lose its own.
    script = OPEN + textwrap.dedent(
        """
        import threading
        def increments():
            for _ in range(40):
                connection = ConnectionHandler({"default": {
                    "ENGINE": "autommate.sqlite3", "NAME": sys.argv[1],
                    "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
                }})["default"]
                connection.set_autocommit(
                    False, force_begin_transaction_with_broken_autocommit=True
                )
                with connection.cursor() as cursor:
                    cursor.execute("SELECT value FROM counter WHERE id = 1")
                    value = cursor.fetchone()[0]
                    cursor.execute("UPDATE counter SET value = %s WHERE id = 1", [value + 1])
                connection.commit()
                connection.set_autocommit(True)
                connection.close()
        threads = [threading.Thread(target=increments) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(database)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
    connection = connect(database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM counter WHERE id = 1")
        assert cursor.fetchone()[0] == 3 * 4 * 40
    connection.close()


def test_a_waiting_process_writes_before_the_next_thread_of_the_process_that_wrote(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hand-over waits a few milliseconds for the other process to be scheduled; a loaded
    # machine may take longer, which only this test must not mind.
    monkeypatch.setattr(write_turn, "HANDOVER_SECONDS", 10.0)
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        connection = connect(database)
        with transaction(connection) as cursor:
            cursor.execute("INSERT INTO arrival (who) VALUES ('first thread')")
            holding.set()
            release.wait(30)
        connection.close()

    def second() -> None:
        connection = connect(database)
        with transaction(connection) as cursor:
            cursor.execute("INSERT INTO arrival (who) VALUES ('second thread')")
        connection.close()

    holder = threading.Thread(target=first)
    holder.start()
    assert holding.wait(10)
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            OPEN + "write(\"INSERT INTO arrival (who) VALUES ('other process')\")",
            str(database),
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: a_process_waits(database))
    follower = threading.Thread(target=second)
    follower.start()
    time.sleep(0.2)  # The second thread waits behind the first, in this process.
    release.set()
    holder.join(10)
    follower.join(10)
    _, errors = other.communicate(timeout=30)
    assert other.returncode == 0, errors

    connection = connect(database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT who FROM arrival ORDER BY id")
        order = [row[0] for row in cursor.fetchall()]
    connection.close()
    assert order == ["first thread", "other process", "second thread"]


def test_a_turn_not_had_in_time_fails_as_a_locked_database_and_writes_nothing(
    database: Path,
) -> None:
    holder = connect(database)
    impatient = connect(database, timeout=0.3)
    results: list[BaseException] = []

    def write_meanwhile() -> None:
        try:
            with transaction(impatient) as cursor:
                cursor.execute("INSERT INTO arrival (who) VALUES ('impatient')")
        except BaseException as error:
            results.append(error)

    with transaction(holder) as cursor:
        cursor.execute("INSERT INTO arrival (who) VALUES ('holder')")
        started = time.monotonic()
        thread = threading.Thread(target=write_meanwhile)
        thread.start()
        thread.join(10)
        waited = time.monotonic() - started
    assert len(results) == 1
    assert isinstance(results[0], OperationalError)
    assert "database is locked" in str(results[0])
    assert 0.3 <= waited < 5
    # The failed writer gave its place back: it writes at once now.
    with transaction(impatient) as cursor:
        cursor.execute("INSERT INTO arrival (who) VALUES ('later')")
        cursor.execute("SELECT who FROM arrival ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == ["holder", "later"]
    holder.close()
    impatient.close()


def test_a_rollback_and_a_closed_connection_give_the_turn_back(database: Path) -> None:
    first = connect(database, timeout=1)
    second = connect(database, timeout=1)

    def fail_half_way() -> None:
        with transaction(first) as cursor:
            cursor.execute("INSERT INTO arrival (who) VALUES ('rolled back')")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_half_way()
    with transaction(second) as cursor:
        cursor.execute("INSERT INTO arrival (who) VALUES ('after the rollback')")

    first.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    with first.cursor() as cursor:
        cursor.execute("INSERT INTO arrival (who) VALUES ('never committed')")
    first.close()  # In the middle of its transaction, as a failed request's connection is.
    with transaction(second) as cursor:
        cursor.execute("INSERT INTO arrival (who) VALUES ('after the close')")
        cursor.execute("SELECT who FROM arrival ORDER BY id")
        rows = [row[0] for row in cursor.fetchall()]
    assert rows == ["after the rollback", "after the close"]
    second.close()


def test_the_turn_files_are_as_readable_as_the_database_and_need_no_write_access(
    tmp_path: Path,
) -> None:
    path = tmp_path / "private.sqlite3"
    path.touch(mode=0o640)
    path.chmod(0o640)
    connection = connect(path)
    with transaction(connection) as cursor:
        cursor.execute("CREATE TABLE t (x INTEGER)")
    connection.close()
    for suffix in ("-write-turn", "-write-queue"):
        turn_file = Path(f"{path}{suffix}")
        assert turn_file.stat().st_mode & 0o777 == 0o640 & ~current_umask()
        turn_file.chmod(0o444)  # As if another account had created it.
    connection = connect(path)
    with transaction(connection) as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
    connection.close()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_in_memory_database_has_no_turn(tmp_path: Path) -> None:
    connection = cast(
        write_turn.DatabaseWrapper,
        ConnectionHandler(
            {
                "default": {
                    "ENGINE": "autommate.sqlite3",
                    "NAME": "file:turns?mode=memory&cache=shared",
                    "OPTIONS": {"transaction_mode": "IMMEDIATE"},
                }
            }
        )["default"],
    )
    with transaction(connection) as cursor:
        cursor.execute("CREATE TABLE t (x INTEGER)")
        cursor.execute("INSERT INTO t VALUES (1)")
    assert connection.write_turn is None
    connection.close()


def test_connections_leave_checkpoints_to_their_process_checkpointer(database: Path) -> None:
    # SQLite would checkpoint inside the COMMIT that grew the log, with the write turn held.
    connection = connect(database)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (0,)
    assert connection.checkpointer is write_turn.Checkpointer.of(str(database))
    connection.close()


def test_the_log_stays_bounded_while_writers_keep_writing(database: Path) -> None:
    # Without checkpoints the log would hold all of it (more than 9 MiB); checkpoints that
    # never reached its end, with writers appending all the while, would never let it start
    # again from its beginning.
    row = os.urandom(8192)
    largest = 0

    def write(rows: int) -> None:
        nonlocal largest
        connection = connect(database)
        for _ in range(rows):
            with transaction(connection) as cursor:
                cursor.execute("INSERT INTO arrival (who) VALUES (%s)", [row.hex()])
            largest = max(largest, os.stat(f"{database}-wal").st_size)
            time.sleep(0.001)
        connection.close()

    threads = [threading.Thread(target=write, args=(300,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    checkpointer = write_turn.Checkpointer.of(str(database))
    assert checkpointer.checkpoints >= 1
    assert largest < 6 * 2**20
    connection = connect(database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM arrival")
        assert cursor.fetchone() == (600,)
    connection.close()


def test_a_checkpointer_ends_with_its_database_and_the_next_one_starts_anew(
    database: Path,
) -> None:
    connection = connect(database)
    connection.ensure_connection()
    first = connection.checkpointer
    connection.close()
    assert first is not None
    for path in database.parent.glob(f"{database.name}*"):
        path.unlink()

    wait_until(lambda: not first.thread.is_alive(), seconds=5)

    connection = connect(database)
    connection.ensure_connection()
    assert connection.checkpointer is not first
    assert connection.checkpointer is not None
    assert connection.checkpointer.thread.is_alive()
    connection.close()


def test_production_settings_use_the_backend_for_an_sqlite_url() -> None:
    script = (
        "import os; os.environ['AUTOMMATE_ENV_FILE'] = os.devnull\n"
        "os.environ['DATABASE_URL'] = 'sqlite:////tmp/x.sqlite3'\n"
        "from autommate import settings\n"
        "print(settings.DATABASES['default']['ENGINE'])\n"
    )
    engine = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert engine == "autommate.sqlite3"
