"""API tokens: issued per person, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from vault import auditing
from vault.authz import require
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, NotFound
from vault.models import ApiToken, Person
from vault.policy import Action
from vault.runtime import Vault

TOKEN_PREFIX = "avt_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    """The stored form of a bearer token (tokens are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(v: Vault, db: Session, caller: Caller, person: Person, label: str = "") -> str:
    """Issue a bearer token for ``person``; the plain token is returned once, never stored."""
    require(v, db, caller, Action.TOKEN_ISSUE)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(person_id=person.id, token_hash=hash_token(token), label=label[:100])
    db.add(row)
    db.flush()
    auditing.record(
        v, db, caller, Action.TOKEN_ISSUE, resource={"person": person.id, "token": row.id}
    )
    return token


# Every API request: built once, and one query brings the person with their roles and
# designations (whose tiers are joined in by default).
_BY_TOKEN = (
    select(Person)
    .join(ApiToken, ApiToken.person_id == Person.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
    .options(joinedload(Person.role_rows), joinedload(Person.designations))
)


# The same lookup for a content route: the person's row is locked with it, so the export
# quota counts one content request of theirs at a time (PostgreSQL; SQLite is serial).
_BY_TOKEN_LOCKED = _BY_TOKEN.with_for_update(of=Person.__table__)


def person_for_token(db: Session, token: str, *, lock: bool = False) -> Person | None:
    """The person a live token belongs to, or ``None``; one statement either way."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    stmt = _BY_TOKEN_LOCKED if lock else _BY_TOKEN
    return db.scalars(stmt, {"token_hash": hash_token(token)}).unique().first()


def tokens_of(db: Session, person: Person) -> list[ApiToken]:
    """A person's bearer tokens, newest first (their hashes only; tokens are never kept)."""
    return list(
        db.scalars(
            select(ApiToken).where(ApiToken.person_id == person.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(v: Vault, db: Session, caller: Caller, token_id: int) -> ApiToken:
    """Revoke a bearer token at once (admin act, audited); revoking twice is a conflict."""
    require(v, db, caller, Action.TOKEN_REVOKE)
    row = db.get(ApiToken, token_id)
    if row is None:
        raise NotFound("no such token", code="token_not_found")
    if row.revoked_at is not None:
        raise Conflict("this token is already revoked", code="token_revoked")
    row.revoked_at = utcnow()
    auditing.record(
        v, db, caller, Action.TOKEN_REVOKE, resource={"person": row.person_id, "token": row.id}
    )
    return row
