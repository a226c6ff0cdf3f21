"""Record key shares in a database of their own (``VAULT_SHARES_URL``): the share store of
a vault on several machines (:mod:`vault.crypto.shares` is the file of one machine)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from vault.crypto.errors import KeyringError
from vault.crypto.shares import ShareStore, Shredded


class DatabaseShareStore:
    """The shares in a database of their own (``VAULT_SHARES_URL``), for a vault of several
    machines: the app processes keep nothing on their own disks. It must not be the vault's
    database (whose backups would then hold the shares a disposal destroys); it is key
    material, kept and backed up as the keys are, never with the vault's backups.

    PostgreSQL keeps a deleted row's bytes until VACUUM: :meth:`shred` vacuums the table
    after the deletion commits, so the destroyed shares do not linger in its pages.
    """

    def __init__(self, url: str) -> None:
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
