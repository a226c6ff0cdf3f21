"""Live grants: which grants cover a record now, listing and revocation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, joinedload

from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, NotFound
from vault.models import (
    Client,
    Grant,
    Person,
    Record,
)
from vault.policy import Action, Target
from vault.runtime import Vault


def revoke(v: Vault, db: Session, caller: Caller, grant_id: int, reason: str) -> Grant:
    """A custodian in scope, or an admin, ends a grant now."""
    grant = db.get(Grant, grant_id)
    if grant is None:
        raise NotFound("no such grant", code="grant_not_found")
    client = db.get(Client, grant.client_id)
    assert client is not None
    require(
        v,
        db,
        caller,
        Action.GRANT_REVOKE,
        Target(record_id=grant.record_id, client_id=grant.client_id, tier=client.tier),
        is_requester=False,
        resource={"grant": grant.id},
    )
    if grant.revoked_at is not None:
        raise Conflict("this grant is already revoked", code="grant_revoked")
    revoke_grant(v, db, caller, grant, reason or "revoked")
    return grant


def revoke_grant(v: Vault, db: Session, caller: Caller, grant: Grant, reason: str) -> None:
    """End ``grant`` now and audit it (in the caller's transaction, no decision)."""
    grant.revoked_at = utcnow()
    grant.revoked_by_id = caller.person_id
    grant.revoke_reason = reason[:200]
    auditing.record(
        v,
        db,
        caller,
        Action.GRANT_REVOKE,
        outcome="ok",
        grant_id=str(grant.id),
        resource={
            "grant": grant.id,
            "person": grant.person_id,
            "client": grant.client_id,
            "record": grant.record_id,
        },
        reason=reason[:200],
    )


# Asked at every content decision: built once, so SQLAlchemy reuses its compiled form.
_COVERING = (
    select(Grant)
    .where(
        Grant.person_id == bindparam("person_id"),
        Grant.client_id == bindparam("client_id"),
        or_(Grant.record_id.is_(None), Grant.record_id == bindparam("record_id")),
        Grant.revoked_at.is_(None),
        Grant.starts_at <= bindparam("now"),
        Grant.expires_at > bindparam("now"),
    )
    .order_by(Grant.id)
    .options(joinedload(Grant.action_rows))  # the actions come in the same query
)


def covering(db: Session, person_id: int, record: Record, now: datetime) -> list[Grant]:
    """Live grants of ``person_id`` that cover ``record`` (the record, or its client file)."""
    return list(
        db.scalars(
            _COVERING,
            {
                "person_id": person_id,
                "client_id": record.client_id,
                "record_id": record.id,
                "now": now,
            },
        ).unique()
    )


def grants_of(db: Session, person: Person, *, limit: int, offset: int) -> list[Grant]:
    """The person's grants, newest first (history survives expiry)."""
    return list(
        db.scalars(
            select(Grant)
            .where(Grant.person_id == person.id)
            .order_by(Grant.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
