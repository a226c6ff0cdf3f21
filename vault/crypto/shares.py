"""Record key shares: the half of every record's data key that lives with the keys.

A record's data key is split in two (DESIGN §2.3)::

    data key = K1 XOR K2

``K1`` is wrapped by the key provider and stored in the database (``records.wrapped_dek``,
as before: rotation, re-wrapping and migration between providers see only it). ``K2``, the
*share*, is a random 32 bytes kept here, in a small SQLite file next to the key file
(``$VAULT_HOME/shares.db``, 0600), never in the database and never in a database backup.

Disposing of a record deletes its share and writes a tombstone in its place, in one
transaction, with ``secure_delete`` on (SQLite zeroes the freed bytes) and a rollback
journal (no write-ahead log keeps old pages). From then on the record's key cannot be
rebuilt by anyone, whatever copy of the database they bring back: the wrapped ``K1`` of
an old backup unwraps, but ``K1`` alone opens nothing. The tombstone lets the choke point
say ``record_disposed`` even to a database restored from before the disposal.

A record filed before shares existed has none and no tombstone: its key is ``K1`` alone
(``legacy``), and disposing of it removes its ciphertext but cannot reach old backups.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterable
from pathlib import Path

from vault.crypto.errors import DecryptionError, KeyringError
from vault.crypto.providers import KEY_SIZE, DataKey

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS shares (record_id INTEGER PRIMARY KEY, share BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS shredded (record_id INTEGER PRIMARY KEY, at TEXT NOT NULL)",
)


class Shredded(DecryptionError):
    """The record's share was destroyed: it was disposed of."""


def combine(part: DataKey, share: bytes | None) -> DataKey:
    """The data key from its two halves (``K1 XOR K2``); ``None``: a legacy record's K1."""
    if share is None:
        return part
    if len(share) != KEY_SIZE:
        raise DecryptionError()
    return DataKey(bytes(a ^ b for a, b in zip(part.material, share, strict=True)))


class ShareStore:
    """The share file: issue a record's share, read it (the choke point), shred it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._create()

    def __repr__(self) -> str:
        return f"ShareStore({self.path})"

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        mode = self.path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(
                f"{self.path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it"
            )
        conn = self._conn()
        with conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @staticmethod
    def new_share() -> bytes:
        """Fresh random bytes for a share (stored with :meth:`store` before the record's
        deposit commits)."""
        return os.urandom(KEY_SIZE)

    def issue(self, record_id: int) -> bytes:
        """A fresh share for ``record_id``, stored now."""
        share = self.new_share()
        self.store({record_id: share})
        return share

    def store(self, shares: dict[int, bytes]) -> None:
        """Store shares durably, in one transaction (one disk flush for a whole batch of
        deposits). Called just before the deposits' own transaction commits: a deposit
        that then rolls back leaves an unused share, which opens nothing. An id that was
        shredded is refused (KeyringError): a disposed record's id is never reused."""
        if not shares:
            return
        taken = self.shredded(shares)
        if taken:
            raise KeyringError(f"record {min(taken)} was disposed of; its id is not reused")
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO shares (record_id, share) VALUES (?, ?)",
                [(i, bytes(share)) for i, share in shares.items()],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def share(self, record_id: int) -> bytes | None:
        """The record's share (``None``: a legacy record); :class:`Shredded` if disposed."""
        conn = self._conn()
        row = conn.execute("SELECT share FROM shares WHERE record_id = ?", (record_id,)).fetchone()
        if row is not None:
            return bytes(row[0])
        if conn.execute("SELECT 1 FROM shredded WHERE record_id = ?", (record_id,)).fetchone():
            raise Shredded()
        return None

    def has_share(self, record_id: int) -> bool:
        """Whether ``record_id`` has a live share (it was filed with one and not shredded)."""
        row = self._conn().execute("SELECT 1 FROM shares WHERE record_id = ?", (record_id,))
        return row.fetchone() is not None

    def shredded(self, record_ids: Iterable[int]) -> set[int]:
        """Which of ``record_ids`` were shredded."""
        ids = sorted(set(record_ids))
        found: set[int] = set()
        conn = self._conn()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found |= {
                int(r[0])
                for r in conn.execute(
                    f"SELECT record_id FROM shredded WHERE record_id IN ({marks})",  # noqa: S608
                    chunk,
                )
            }
        return found

    def shred(self, record_ids: Iterable[int], at: str) -> int:
        """Destroy the shares of ``record_ids`` and leave tombstones; returns how many
        shares were destroyed. Idempotent: shredding again changes nothing."""
        ids = sorted(set(record_ids))
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany("DELETE FROM shares WHERE record_id = ?", [(i,) for i in ids])
            destroyed = conn.total_changes - before
            conn.executemany(
                "INSERT OR IGNORE INTO shredded (record_id, at) VALUES (?, ?)",
                [(i, at) for i in ids],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return destroyed

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
