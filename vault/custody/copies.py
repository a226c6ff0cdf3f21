"""Traceable copies: which copy a leaked file is, and who it was made for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from audit import Event, query_events
from vault.authz import require
from vault.caller import Caller
from vault.custody import watermarks
from vault.errors import NotFound
from vault.models import (
    Person,
    Record,
)
from vault.policy import Action
from vault.runtime import Vault


@dataclass(frozen=True)
class CopyTrace:
    """Whose copy a file is, from the audit event that made it."""

    copy_id: str
    event: Event
    person: Person | None
    record: Record | None


def trace_copy(v: Vault, db: Session, caller: Caller, data: bytes) -> CopyTrace:
    """Read a copy's watermark and find the audited copy it names (auditors, operator)."""
    require(v, db, caller, Action.AUDIT_READ)
    copy_id = watermarks.trace(data)
    after: int | None = None
    conn = db.connection()
    while True:
        page = query_events(
            conn, after_seq=after, limit=500, action=Action.RECORD_COPY.value, decision="allow"
        )
        for _, event in page:
            if event.details.get("copy_id") == copy_id:
                person = (
                    db.get(Person, event.actor.person_id)
                    if event.actor.person_id is not None
                    else None
                )
                record_id = event.resource.get("record")
                record = db.get(Record, int(record_id)) if record_id else None
                return CopyTrace(copy_id, event, person, record)
        if len(page) < 500:
            break
        after = page[-1][0]
    raise NotFound(f"the audit log has no copy {copy_id}", code="copy_not_found")
