"""SQLite writers take turns (vault.db.WriterTurns) before SQLite's own write lock: a
writer waits for the one before it, is let in when it commits, and a writer that dies
holding its turn gives it back with its process."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

import vault.db
from vault.db import WriterTurns, make_engine


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    with make_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE log (who TEXT)")
    return url


def _log(url: str) -> list[str]:
    with make_engine(url).connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT who FROM log ORDER BY rowid")]


def _turn_taken(url: str) -> bool:
    """Whether some writer holds the turn of the database at ``url`` (its file's flock)."""
    fd = os.open(f"{sa.make_url(url).database}-writer", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_second_writer_begins_only_after_the_first_commits(url: str) -> None:
    first, second = make_engine(url), make_engine(url)  # two engines: two processes' turns
    waiting = threading.Event()

    def later() -> None:
        waiting.wait()
        with second.begin() as conn:  # waits for its turn here
            conn.exec_driver_sql("INSERT INTO log VALUES ('second')")

    thread = threading.Thread(target=later)
    thread.start()
    with first.begin() as conn:
        conn.exec_driver_sql("INSERT INTO log VALUES ('first')")
        waiting.set()
        thread.join(timeout=0.3)
        # The second writer is still waiting for its turn: it has written nothing.
        assert thread.is_alive() and _turn_taken(url)
        conn.exec_driver_sql("INSERT INTO log VALUES ('first again')")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert _log(url) == ["first", "first again", "second"] and not _turn_taken(url)


def test_a_rollback_and_a_closed_connection_give_the_turn_back(url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.begin()
        conn.exec_driver_sql("INSERT INTO log VALUES ('undone')")
        conn.rollback()
    with engine.connect() as conn:
        conn.begin()
        conn.exec_driver_sql("INSERT INTO log VALUES ('left open')")
        conn.invalidate()  # the connection is closed with its transaction open
    with make_engine(url).begin() as conn:
        conn.exec_driver_sql("INSERT INTO log VALUES ('next')")
    assert _log(url) == ["next"]


def test_no_turn_within_the_timeout_is_database_locked(url: str, monkeypatch) -> None:
    holder = make_engine(url)
    with holder.begin() as conn:
        conn.exec_driver_sql("INSERT INTO log VALUES ('holder')")
        turns = WriterTurns(sa.make_url(url).database or "", timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            turns.take(object())
        # Through an engine: SQLAlchemy's OperationalError, which a route answers with 503.
        monkeypatch.setattr(vault.db, "BUSY_TIMEOUT", 0.1)
        with (
            pytest.raises(OperationalError, match="database is locked"),
            make_engine(url).begin() as other,
        ):
            other.exec_driver_sql("INSERT INTO log VALUES ('never')")
    assert _log(url) == ["holder"]


def _in_its_turn(url: str) -> str:
    """The start of a script that writes to ``url`` and stays in its turn."""
    return f"""
import os, pathlib, signal, time
from vault.db import make_engine
engine = make_engine({url!r})
conn = engine.connect()
conn.begin()
conn.exec_driver_sql("INSERT INTO log VALUES ('killed')")
"""


def test_a_writer_killed_in_its_turn_gives_it_back(url: str, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        _in_its_turn(url)
        + f"""
pathlib.Path({str(ready)!r}).touch()
time.sleep(600)
"""
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(400):
            if ready.exists() or child.poll() is not None:
                break
            threading.Event().wait(0.05)
        assert ready.exists(), "the child never took its turn"
        assert _turn_taken(url)
    finally:
        child.kill()
        child.wait()
    assert not _turn_taken(url)
    with make_engine(url).begin() as conn:
        conn.exec_driver_sql("INSERT INTO log VALUES ('after')")
    assert _log(url) == ["after"]


def test_a_writer_that_dies_in_its_turn_after_forking_gives_it_back(
    url: str, tmp_path: Path
) -> None:
    """A child forked in its parent's turn (gunicorn's workers, the worker's helpers)
    keeps no copy of the parent's turn: when the parent dies in it, it is free."""
    child_pid = tmp_path / "child.pid"
    script = (
        _in_its_turn(url)
        + f"""
pid = os.fork()
if pid == 0:
    time.sleep(600)  # the child writes nothing and outlives its parent
    os._exit(0)
pathlib.Path({str(child_pid)!r}).write_text(str(pid))
os.kill(os.getpid(), signal.SIGKILL)  # the parent dies in its turn
"""
    )
    parent = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert parent.returncode == -9
    orphan = int(child_pid.read_text())
    try:
        assert not _turn_taken(url)
        with make_engine(url).begin() as conn:
            conn.exec_driver_sql("INSERT INTO log VALUES ('after')")
        assert _log(url) == ["after"]
    finally:
        os.kill(orphan, 9)
