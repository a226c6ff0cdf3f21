"""One leader at a time: a PostgreSQL session advisory lock held on a connection of its
own (released when the process stops or its connection drops), a file lock on SQLite."""

from __future__ import annotations

import fcntl
import os
from typing import IO, Any

import structlog
from sqlalchemy import func, select

from vault.runtime import Vault

# Key of the worker leader's advisory lock ("avworker"); the sealer's batch lock differs.
LEADER_LOCK_ID = int.from_bytes(b"avworker", "big") & 0x7FFF_FFFF_FFFF_FFFF
LEADER_NAME = "archive-vault worker"


class Leadership:
    """Try to be the leader, each tick; ``held`` says whether this process is."""

    def __init__(self, v: Vault) -> None:
        self.v = v
        self.held = False
        self._conn: Any = None
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        try:
            self.held = self._try()
        except Exception:  # noqa: BLE001 - a lost database connection is a lost lock
            structlog.get_logger("vault").warning("worker leader lock lost")
            self._drop()
            self.held = False
        return self.held

    def _try(self) -> bool:
        if self.v.engine.dialect.name != "postgresql":
            if self._file is None:
                path = self.v.config.home / "worker.lock"
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._file = path.open("a")
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True
        if self._conn is None:
            self._conn = self.v.engine.connect()
            # The leader is named in pg_stat_activity, for the operator (and the tests).
            self._conn.scalar(
                select(func.set_config("application_name", f"{LEADER_NAME} {os.getpid()}", False))
            )
        if self.held:
            self._conn.scalar(select(1))  # still connected, so still holding it
        else:
            self.held = bool(self._conn.scalar(select(func.pg_try_advisory_lock(LEADER_LOCK_ID))))
            if self.held:
                structlog.get_logger("vault").info("worker leader", pid=os.getpid())
        self._conn.commit()  # the lock is the session's: it outlives the transaction
        return self.held

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: BLE001, S110 - gone already
                pass
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                if self.held:
                    self._conn.scalar(select(func.pg_advisory_unlock(LEADER_LOCK_ID)))
                    self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._file is not None:
            self._file.close()  # releases the flock
            self._file = None
        self.held = False
