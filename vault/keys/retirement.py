"""Retiring a key-encryption key: it leaves the keyring once no data key needs it.

A retired KEK is gone for good, and with it every copy of a data key wrapped under it,
old backups included: that is what retiring is for (a key that may have leaked stops
opening anything), and why it takes two people (``vault.proposals``). It is refused
while the key is active or while any data key in the database is still wrapped under
it (``keys rewrap`` first; ``keys status`` shows the counts). The key is removed from
the keyring only after the approval and its audit event have committed: a crash in
between leaves the key in place, and retiring it again finishes the job.
"""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import auditing, proposals
from vault.authz import Details
from vault.caller import Caller
from vault.errors import Conflict, InvalidInput, NotFound
from vault.keys.rotation import WRAPPED, key_id_of
from vault.models import Person, Proposal
from vault.policy import Action
from vault.proposals import Payload
from vault.runtime import Vault, after_commit


def wrapped_under(db: Session, key_id: str) -> dict[str, int]:
    """How many data keys of each kind are still wrapped under ``key_id``."""
    counts: Counter[str] = Counter()
    for kind in WRAPPED:
        rows = db.execute(select(kind.column).where(kind.present).execution_options(yield_per=5000))
        counts[kind.name] = sum(1 for (blob,) in rows if key_id_of(blob) == key_id)
    return {kind: n for kind, n in counts.items() if n}


def check(v: Vault, db: Session, key_id: str) -> None:
    """Refuse unless ``key_id`` can be retired now."""
    if not v.keys.retires:
        raise InvalidInput(
            f"the {v.config.key_provider} key provider retires its keys itself",
            code="retirement_unsupported",
        )
    if key_id not in v.keys.key_ids():
        raise NotFound(f"no key {key_id!r} in the keyring", code="key_not_found")
    if key_id == v.keys.active_key_id:
        raise Conflict("the active key cannot be retired: rotate first", code="key_active")
    left = wrapped_under(db, key_id)
    if left:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(left.items()))
        raise Conflict(
            f"{key_id} still wraps data keys ({counts}): run 'archive-vault keys rewrap'",
            code="key_in_use",
        )


def retire(v: Vault, db: Session, key_id: str) -> None:
    """Check again, then remove ``key_id`` from the keyring once the transaction commits."""
    check(v, db, key_id)
    after_commit(db, lambda: v.keys.retire(key_id))


_KEY_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")


def _validate(v: Vault, db: Session, subject: Person | None, payload: Payload) -> Payload:
    key_id = str(payload.get("key_id") or "").strip()
    if not _KEY_ID.match(key_id):
        raise InvalidInput(
            "name the key to retire (its id, as keys status shows)", code="invalid_key_id"
        )
    check(v, db, key_id)
    return {"key_id": key_id}


def _apply(
    v: Vault,
    db: Session,
    caller: Caller,
    proposal: Proposal,
    subject: Person | None,
    payload: Payload,
) -> Details:
    key_id = payload["key_id"]
    retire(v, db, key_id)
    auditing.record(
        v,
        db,
        caller,
        Action.KEY_RETIRE,
        resource={"key": key_id},
        details=proposals.outcome_details(proposal, caller),
    )
    return {"key": key_id}


KIND = proposals.register(
    proposals.Kind(
        name="key_retire",
        action=Action.KEY_RETIRE,
        validate=_validate,
        apply=_apply,
        describe=lambda payload: str(payload.get("key_id", "")),
        needs_subject=False,
    )
)
