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


class DatabaseShareStore:
    """The shares in a database of their own (``VAULT_SHARES_URL``), for a vault of several
    machines: the app processes keep nothing on their own disks. It must not be the vault's
    database (whose backups would then hold the shares a disposal destroys); it is key
    material, kept and backed up as the keys are, never with the vault's backups.

    PostgreSQL keeps a deleted row's bytes until VACUUM: :meth:`shred` vacuums the table
    after the deletion commits, so the destroyed shares do not linger in its pages.
    """

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self.url = url
        self.engine = sa.create_engine(url, pool_size=2, max_overflow=3, pool_recycle=3600)
        meta = sa.MetaData()
        self._shares = sa.Table(
            "shares",
            meta,
            sa.Column("record_id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("share", sa.LargeBinary, nullable=False),
        )
        self._shredded = sa.Table(
            "shredded",
            meta,
            sa.Column("record_id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("at", sa.String(40), nullable=False),
        )
        meta.create_all(self.engine)

    def __repr__(self) -> str:
        return f"DatabaseShareStore({self.engine.url.render_as_string(hide_password=True)})"

    new_share = staticmethod(ShareStore.new_share)

    def issue(self, record_id: int) -> bytes:
        share = self.new_share()
        self.store({record_id: share})
        return share

    def store(self, shares: dict[int, bytes]) -> None:
        if not shares:
            return
        taken = self.shredded(shares)
        if taken:
            raise KeyringError(f"record {min(taken)} was disposed of; its id is not reused")
        with self.engine.begin() as conn:
            conn.execute(self._shares.delete().where(self._shares.c.record_id.in_(list(shares))))
            conn.execute(
                self._shares.insert(),
                [{"record_id": i, "share": bytes(s)} for i, s in shares.items()],
            )

    def share(self, record_id: int) -> bytes | None:
        sa = self._sa
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(self._shares.c.share).where(self._shares.c.record_id == record_id)
            ).first()
            if row is not None:
                return bytes(row[0])
            gone = conn.execute(
                sa.select(self._shredded.c.record_id).where(self._shredded.c.record_id == record_id)
            ).first()
        if gone is not None:
            raise Shredded()
        return None

    def has_share(self, record_id: int) -> bool:
        sa = self._sa
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(self._shares.c.record_id).where(self._shares.c.record_id == record_id)
                ).first()
                is not None
            )

    def shredded(self, record_ids: Iterable[int]) -> set[int]:
        sa = self._sa
        ids = sorted(set(record_ids))
        found: set[int] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                found |= {
                    int(r)
                    for r in conn.scalars(
                        sa.select(self._shredded.c.record_id).where(
                            self._shredded.c.record_id.in_(chunk)
                        )
                    )
                }
        return found

    def shred(self, record_ids: Iterable[int], at: str) -> int:
        ids = sorted(set(record_ids))
        if not ids:
            return 0
        already = self.shredded(ids)
        with self.engine.begin() as conn:
            destroyed = conn.execute(
                self._shares.delete().where(self._shares.c.record_id.in_(ids))
            ).rowcount
            fresh = [i for i in ids if i not in already]
            if fresh:
                conn.execute(self._shredded.insert(), [{"record_id": i, "at": at} for i in fresh])
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM shares")
        return int(destroyed or 0)

    def close(self) -> None:
        self.engine.dispose()


def open_shares(path: Path, url: str = "") -> ShareStore | DatabaseShareStore:
    """The share store: the database at ``url`` when one is set, else the file ``path``."""
    return DatabaseShareStore(url) if url else ShareStore(path)
