"""Key rotation (DESIGN §3.12, §4): a new key-encryption key, then every data key re-wrapped.

``rotate`` adds a key-encryption key (KEK) to the key provider and makes it active:
new data keys are wrapped under it from then on. ``rewrap`` walks every wrapped data
key in the database (records, clients, local accounts' TOTP secrets) and wraps it
again under the active KEK. The data key itself does not change, so no ciphertext is
read, decrypted or rewritten: a data key is unwrapped only to be wrapped again.

``rewrap`` goes through each table in primary-key order, in batches; each batch locks
its rows, rewrites their wrapped keys and appends its audit event in one transaction.
Rows already under the active KEK are skipped, so a run that stopped half way (crash,
kill, lost connection) is finished by running it again, and nothing is lost: old KEKs
stay in the keyring, and a row is only ever rewritten with a key wrapped under a KEK
the keyring holds. A wrapped key that cannot be unwrapped is left untouched and
reported, never replaced.

Processes that opened the keyring before a rotation keep wrapping new data keys under
the previous KEK until they reload it (they still read everything: an unknown key id
makes the keyring re-read its file). Restart them after ``rotate``, then ``rewrap``;
``status`` shows what is left under old KEKs, and another ``rewrap`` takes it over."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.crypto import DecryptionError, WrappedKey
from vault.crypto.contexts import client_context, record_context, totp_context
from vault.errors import InvalidInput
from vault.models import Client, LocalCredential, Record
from vault.policy import Action
from vault.runtime import Vault, after_commit

BATCH = 1000


UNREADABLE = "(unreadable)"


@dataclass(frozen=True)
class WrappedKeys:
    """A column of wrapped data keys, and the place (context) each key is bound to."""

    name: str
    table: Table
    key: Column[Any]
    column: Column[Any]
    context: Callable[[int], bytes]

    @property
    def present(self) -> ColumnElement[bool]:
        """Rows that hold a wrapped key (a disposed record's is emptied: DESIGN §2.3)."""
        return and_(self.column.is_not(None), func.length(self.column) > 0)


def _table(model: type) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


# Every wrapped data key the vault keeps. A new kind of sealed field must be added here.
WRAPPED: tuple[WrappedKeys, ...] = (
    WrappedKeys(
        "records", _table(Record), _table(Record).c.id, _table(Record).c.wrapped_dek, record_context
    ),
    WrappedKeys(
        "clients", _table(Client), _table(Client).c.id, _table(Client).c.wrapped_dek, client_context
    ),
    WrappedKeys(
        "totp_secrets",
        _table(LocalCredential),
        _table(LocalCredential).c.person_id,
        _table(LocalCredential).c.totp_wrapped_dek,
        totp_context,
    ),
)


def key_id_of(wrapped: bytes) -> str:
    """The id of the KEK a stored wrapped key names, or ``UNREADABLE``."""
    try:
        return WrappedKey.from_bytes(wrapped).key_id
    except DecryptionError:
        return UNREADABLE


def rotate(v: Vault, db: Session, caller: Caller) -> str:
    """Announce a new KEK (audited); it is made and made active once the event commits.

    The event commits first, then the keyring file changes (when ``db``'s transaction
    commits): a process killed, or a commit that fails, in between leaves no new key
    active without its ``key:rotate`` event (at worst an event whose key was never
    made, which the next rotation makes under the same id). A rolled-back act makes
    no key. Returns the new key's id.
    """
    require(v, db, caller, Action.KEY_ROTATE)
    if not v.keys.rotates:
        raise InvalidInput(
            f"the {v.config.key_provider} key provider rotates its keys itself",
            code="rotation_unsupported",
        )
    previous = v.keys.active_key_id
    new_id = v.keys.next_key_id()
    auditing.record(
        v,
        db,
        caller,
        Action.KEY_ROTATE,
        resource={"key": new_id},
        details={"previous": previous},
    )
    after_commit(db, lambda: v.keys.rotate(expected=new_id))
    return new_id


@dataclass
class Rewrap:
    """What a ``rewrap`` run did, per kind of wrapped key."""

    active_key_id: str
    rewrapped: dict[str, int] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)
    failed: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total_rewrapped(self) -> int:
        """Data keys re-wrapped by this run."""
        return sum(self.rewrapped.values())

    @property
    def total_failed(self) -> int:
        """Wrapped keys that could not be unwrapped (left untouched)."""
        return sum(len(ids) for ids in self.failed.values())


def rewrap(
    v: Vault,
    db: Session,
    caller: Caller,
    *,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Rewrap:
    """Wrap every data key not under the active KEK again under it, batch by batch.

    Args:
        batch: rows per batch (1..10000).
        progress: called with the number of rows looked at after each batch: the
            boundary commits there (the CLI does) to make the run resumable.
        on_total: called once with the number of rows to look at.

    Returns:
        Counts per kind; keys that could not be unwrapped are listed in ``failed``.
    """
    if not 1 <= batch <= 10_000:
        raise InvalidInput("batch must be between 1 and 10000", code="invalid_batch")
    require(v, db, caller, Action.KEY_REWRAP)
    active = v.keys.active_key_id
    if on_total is not None:
        on_total(sum(int(db.scalar(select(func.count()).where(k.present)) or 0) for k in WRAPPED))
    report = Rewrap(active)
    for kind in WRAPPED:
        report.rewrapped[kind.name] = report.current[kind.name] = 0
        report.failed[kind.name] = []
        for looked_at in _rewrap_kind(v, db, caller, kind, active, batch, report):
            if progress is not None:
                progress(looked_at)
    auditing.record(
        v,
        db,
        caller,
        Action.KEY_REWRAP,
        resource={"key": active},
        outcome="error" if report.total_failed else "ok",
        reason="unwrap_failed" if report.total_failed else "",
        details={
            "rewrapped": report.total_rewrapped,
            "failed": report.total_failed,
            "complete": True,
        },
    )
    return report


_SET = {
    kind.name: update(kind.table)
    .where(kind.key == bindparam("b_key"))
    .values({kind.column.name: bindparam("b_wrapped")})
    for kind in WRAPPED
}


def _rewrap_kind(
    v: Vault,
    db: Session,
    caller: Caller,
    kind: WrappedKeys,
    active: str,
    batch: int,
    report: Rewrap,
) -> Iterator[int]:
    """Rewrap one kind; yields the rows looked at after each batch.

    A rewrap is a resumable batch job: the boundary commits after each batch (the CLI
    does it in ``progress``), so that a run that is killed loses at most the batch in
    hand and the next run takes up from there. Without such a boundary the whole rewrap
    is one unit of work.
    """
    after = 0
    while True:
        # Locked (PostgreSQL; SQLite's transactions take the write lock): nothing changes a
        # row between reading its wrapped key here and writing the new one below.
        rows = db.execute(
            select(kind.key, kind.column)
            .where(kind.key > after, kind.present)
            .order_by(kind.key)
            .limit(batch)
            .with_for_update()
        ).all()
        if not rows:
            return
        changes, old_ids = [], set()
        for key, blob in rows:
            old = key_id_of(blob)
            if old == active:
                report.current[kind.name] += 1
                continue
            try:
                context = kind.context(key)
                fresh = v.keys.rewrap(WrappedKey.from_bytes(blob), context)
            except DecryptionError:
                report.failed[kind.name].append(key)
                continue
            changes.append({"b_key": key, "b_wrapped": fresh.to_bytes()})
            old_ids.add(old)
        if changes:
            db.execute(_SET[kind.name], changes)
            auditing.record(
                v,
                db,
                caller,
                Action.KEY_REWRAP,
                resource={"key": active},
                details={
                    "kind": kind.name,
                    "rewrapped": len(changes),
                    "from": ",".join(sorted(old_ids)),
                    "first": rows[0][0],
                    "last": rows[-1][0],
                },
            )
        report.rewrapped[kind.name] += len(changes)
        after = rows[-1][0]
        yield len(rows)
