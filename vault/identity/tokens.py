"""API tokens: their holder's alone, stored hashed, revocable.

A person creates their own tokens from their signed-in page (shown once, to them);
admins list and revoke anyone's, and never see or create a usable one. The operator's
CLI on the server issues tokens outside the policy, audited with the operator as actor.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from vault import auditing, authz
from vault.authz import require
from vault.caller import Caller, Who
from vault.db import DirectReads, utcnow
from vault.errors import Conflict, InvalidInput, NotFound
from vault.models import ApiToken, Designation, DesignationTier, Person, PersonRole
from vault.policy import Action
from vault.runtime import Vault

TOKEN_PREFIX = "avt_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    """The stored form of a bearer token (tokens are 256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


MAX_LABEL = 100


def _label(label: str) -> str:
    text = (label or "").strip()
    if not 1 <= len(text) <= MAX_LABEL or not text.isprintable():
        raise InvalidInput(
            f"name the token (1 to {MAX_LABEL} printable characters)", code="invalid_token_label"
        )
    return text


def _mint(v: Vault, db: Session, caller: Caller, action: Action, person: Person, label: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(person_id=person.id, token_hash=hash_token(token), label=label)
    db.add(row)
    db.flush()
    auditing.record(
        v,
        db,
        caller,
        action,
        resource={"person": person.id, "token": row.id},
        details={"label": row.label, "by_token": caller.via_token},
    )
    return token


def issue_token(v: Vault, db: Session, caller: Caller, person: Person, label: str = "") -> str:
    """The operator's CLI issues a bearer token for ``person`` (audited with the operator
    as actor); the plain token is returned once, never stored.

    No rule permits ``token:issue`` to anyone signed in: people create their own tokens
    (:func:`create_token`), and nobody obtains a usable token for someone else.
    """
    require(v, db, caller, Action.TOKEN_ISSUE, resource={"person": person.id})
    return _mint(v, db, caller, Action.TOKEN_ISSUE, person, (label or "").strip()[:MAX_LABEL])


def create_token(v: Vault, db: Session, caller: Caller, person: Person, label: str) -> str:
    """``person`` creates a bearer token of their own, shown to them once (audited).

    The policy permits it only for oneself (``is_self``) and from a signed-in browser,
    never with a token; a departing or disabled person is refused.
    """
    is_self = caller.person_id is not None and caller.person_id == person.id
    require(
        v,
        db,
        caller,
        Action.TOKEN_CREATE,
        resource={"person": person.id},
        is_self=is_self,
        by_token=caller.via_token,
    )
    return _mint(v, db, caller, Action.TOKEN_CREATE, person, _label(label))


# Every API request: built once; one statement, no ORM object. It brings the person's
# columns with a row per (role, tier of an active designation); the policy decides on
# these facts (``Who``), and a service that needs the person's row loads it then.
_people = Person.__table__
_designations = Designation.__table__
_BY_TOKEN = (
    select(
        _people.c.id,
        _people.c.email,
        _people.c.name,
        _people.c.sso_subject,
        _people.c.hired_on,
        _people.c.hired_on_confirmed_at,
        _people.c.leaving_on,
        _people.c.under_review,
        PersonRole.__table__.c.role,
        DesignationTier.__table__.c.tier,
    )
    .select_from(ApiToken.__table__)
    .join(_people, _people.c.id == ApiToken.__table__.c.person_id)
    .outerjoin(PersonRole.__table__, PersonRole.__table__.c.person_id == _people.c.id)
    .outerjoin(
        _designations,
        and_(_designations.c.person_id == _people.c.id, _designations.c.revoked_at.is_(None)),
    )
    .outerjoin(
        DesignationTier.__table__,
        DesignationTier.__table__.c.designation_id == _designations.c.id,
    )
    .where(
        ApiToken.__table__.c.token_hash == bindparam("token_hash"),
        ApiToken.__table__.c.revoked_at.is_(None),
    )
)


# The same lookup for a content route: the person's row is locked with it, so the export
# quota counts one content request of theirs at a time (PostgreSQL; SQLite is serial).
_BY_TOKEN_LOCKED = _BY_TOKEN.with_for_update(of=_people)


def person_for_token(
    reads: DirectReads, db: Session, token: str, *, lock: bool = False
) -> Who | None:
    """The person a live token belongs to, or ``None``; one statement either way, in the
    request's transaction (a route that writes, or a content route, which locks), sent
    on its driver connection."""
    if not _plausible(token):
        return None
    stmt = _BY_TOKEN_LOCKED if lock else _BY_TOKEN
    return _who(reads.rows_in(db, stmt, {"token_hash": hash_token(token)}))


def person_for_token_read(reads: DirectReads, token: str) -> Who | None:
    """The same lookup for a route that only reads: one statement on the driver's own
    connection, outside any transaction (the route may need no session at all)."""
    if not _plausible(token):
        return None
    return _who(reads.rows(_BY_TOKEN, {"token_hash": hash_token(token)}))


def _plausible(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 100


def _who(rows: Sequence[Sequence[Any]]) -> Who | None:
    if not rows:
        return None
    pid, email, name, subject, hired_on, confirmed_at, leaving_on, review = rows[0][:8]
    return Who(
        id=pid,
        email=email,
        name=name,
        sso_subject=subject,
        hired_on=hired_on,
        hired_on_confirmed_at=confirmed_at,
        leaving_on=leaving_on,
        under_review=bool(review),
        roles=frozenset(r[8] for r in rows if r[8] is not None),
        tiers=frozenset(r[9] for r in rows if r[9] is not None),
    )


def tokens_of(db: Session, person: Person) -> list[ApiToken]:
    """A person's bearer tokens, newest first (their hashes only; tokens are never kept)."""
    return list(
        db.scalars(
            select(ApiToken).where(ApiToken.person_id == person.id).order_by(ApiToken.id.desc())
        )
    )


def _revoke(v: Vault, db: Session, caller: Caller, action: Action, row: ApiToken) -> ApiToken:
    if row.revoked_at is not None:
        raise authz.refuse(
            Conflict("this token is already revoked", code="token_revoked"),
            v,
            caller,
            action,
            resource={"person": row.person_id, "token": row.id},
        )
    row.revoked_at = utcnow()
    auditing.record(v, db, caller, action, resource={"person": row.person_id, "token": row.id})
    return row


def revoke_token(v: Vault, db: Session, caller: Caller, token_id: int) -> ApiToken:
    """Revoke anyone's bearer token at once (admin act, audited); twice is a conflict."""
    require(v, db, caller, Action.TOKEN_REVOKE, resource={"token": token_id})
    row = db.get(ApiToken, token_id)
    if row is None:
        raise NotFound("no such token", code="token_not_found")
    return _revoke(v, db, caller, Action.TOKEN_REVOKE, row)


def revoke_own_token(v: Vault, db: Session, caller: Caller, token_id: int) -> ApiToken:
    """The caller revokes one of their own tokens; another's is not found (audited)."""
    row = db.get(ApiToken, token_id)
    mine = row is not None and caller.person_id is not None and row.person_id == caller.person_id
    if row is None or not mine:
        # Another person's token is "not found": its existence is not the caller's to learn.
        raise authz.refuse(
            NotFound("no such token", code="token_not_found"),
            v,
            caller,
            Action.TOKEN_REVOKE_OWN,
            resource={"token": token_id},
        )
    require(
        v,
        db,
        caller,
        Action.TOKEN_REVOKE_OWN,
        resource={"token": token_id},
        is_self=True,
        by_token=caller.via_token,
    )
    return _revoke(v, db, caller, Action.TOKEN_REVOKE_OWN, row)
