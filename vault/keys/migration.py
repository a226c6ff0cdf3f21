"""Moving a running vault's data keys to another key provider (``keys migrate --to``).

The target provider (``pkcs11`` or ``transit``, built from the settings) reads the data
keys still wrapped under the local key file's KEKs, so a migration is a re-wrap onto the
target's active KEK: each data key is unwrapped from the key file and wrapped by the
target; the content is not read, decrypted or rewritten.

Like ``rotation.rewrap`` it goes through ``rotation.WRAPPED`` in primary-key order, in
batches that each lock their rows, rewrite their wrapped keys and append their audit
event; the boundary commits after each batch. Rows already under the target provider
are skipped, so a run that was killed is finished by running it again. A wrapped key
that cannot be unwrapped is left untouched and reported.

While it runs, and after, the server processes must run with the target provider
(``VAULT_KEY_PROVIDER``): they read both the key file's data keys and the target's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.crypto import DecryptionError, KeyProvider, WrappedKey
from vault.crypto.capability import WrapOnly
from vault.errors import InvalidInput
from vault.keys.rotation import BATCH, WRAPPED, WrappedKeys, key_id_of
from vault.policy import Action
from vault.runtime import Vault

TARGETS = ("pkcs11", "transit")


@dataclass
class Migration:
    """What a ``migrate`` run did, per kind of wrapped key."""

    target: str
    active_key_id: str
    migrated: dict[str, int] = field(default_factory=dict)
    already: dict[str, int] = field(default_factory=dict)
    failed: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total_migrated(self) -> int:
        """Data keys moved to the target provider by this run."""
        return sum(self.migrated.values())

    @property
    def total_failed(self) -> int:
        """Wrapped keys that could not be unwrapped (left untouched)."""
        return sum(len(ids) for ids in self.failed.values())


def migrate(
    v: Vault,
    db: Session,
    caller: Caller,
    target: KeyProvider,
    *,
    name: str,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Migration:
    """Re-wrap every data key not under ``target`` (provider ``name``) under its active KEK.

    Args:
        target: the provider to move to (``vault.runtime.open_provider(config, name)``).
        batch: rows per batch (1..10000).
        progress: called with the rows looked at after each batch; the boundary commits.
        on_total: called once with the number of rows to look at.
    """
    if name not in TARGETS:
        raise InvalidInput(
            f"keys migrate moves to {' or '.join(TARGETS)}, not {name!r}",
            code="invalid_key_provider",
        )
    if not 1 <= batch <= 10_000:
        raise InvalidInput("batch must be between 1 and 10000", code="invalid_batch")
    require(v, db, caller, Action.KEY_REWRAP)
    owns = getattr(target, "owns", None)
    if owns is None:
        raise InvalidInput(f"cannot migrate to the {name} provider", code="invalid_key_provider")
    keys = WrapOnly(target)
    active = keys.active_key_id
    if on_total is not None:
        on_total(sum(int(db.scalar(select(func.count()).where(k.present)) or 0) for k in WRAPPED))
    report = Migration(name, active)
    for kind in WRAPPED:
        report.migrated[kind.name] = report.already[kind.name] = 0
        report.failed[kind.name] = []
        for looked_at in _migrate_kind(v, db, caller, kind, keys, owns, report, batch):
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
            "migrate_to": name,
            "rewrapped": report.total_migrated,
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


def _migrate_kind(
    v: Vault,
    db: Session,
    caller: Caller,
    kind: WrappedKeys,
    keys: WrapOnly,
    owns: Callable[[str], bool],
    report: Migration,
    batch: int = BATCH,
) -> Iterator[int]:
    after = 0
    while True:
        rows = db.execute(
            select(kind.key, kind.column)
            .where(kind.key > after, kind.present)
            .order_by(kind.key)
            .limit(batch)
            .with_for_update()
        ).all()
        if not rows:
            return
        changes, old_ids, todo = [], set(), []
        for key, blob in rows:
            old = key_id_of(blob)
            if owns(old):
                report.already[kind.name] += 1
                continue
            try:
                todo.append((key, old, WrappedKey.from_bytes(blob)))
            except DecryptionError:
                report.failed[kind.name].append(key)
        # One call for the batch: Transit wraps the whole batch in one request.
        moved = keys.rewrap_many([(wrapped, kind.context(key)) for key, _, wrapped in todo])
        for (key, old, _), fresh in zip(todo, moved, strict=True):
            if fresh is None:
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
                resource={"key": report.active_key_id},
                details={
                    "migrate_to": report.target,
                    "kind": kind.name,
                    "rewrapped": len(changes),
                    "from": ",".join(sorted(old_ids)),
                    "first": rows[0][0],
                    "last": rows[-1][0],
                },
            )
        report.migrated[kind.name] += len(changes)
        after = rows[-1][0]
        yield len(rows)
