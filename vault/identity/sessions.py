"""Browser sessions, kept server-side (one row per signed-in browser).

The browser's cookie carries only a random session key; the row (found by the key's
SHA-256) says whose session it is, how they signed in, and when it ends. So a session
can be ended from anywhere at once: sign out everywhere, a password or one-time-code
change, a change of roles, a departure, or an admin. :func:`end_all_sessions` is the
one call for all of them; every session that ends is written to the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from vault import auditing, authz
from vault.caller import Caller
from vault.db import utcnow
from vault.models import Person, WebSession
from vault.policy import Action
from vault.runtime import Vault

KEY_BYTES = 32
MAX_KEY = 64  # characters: a longer cookie value is not one of ours
TOUCH_EVERY = timedelta(seconds=60)  # refresh the idle clock at most this often


def hash_key(key: str) -> str:
    """The stored form of a session key (256-bit random, so SHA-256 suffices)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A session just started: its row, and the key for the cookie (never stored)."""

    row: WebSession
    key: str


def open_session(
    v: Vault,
    db: Session,
    person: Person,
    *,
    method: str,
    second_factor: bool,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Opened:
    """Start a session for ``person`` who has just signed in (the sign-in is audited)."""
    key = secrets.token_urlsafe(KEY_BYTES)
    now = utcnow()
    row = WebSession(
        key_hash=hash_key(key),
        person_id=person.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=v.config.auth.session_max_hours),
        ip=(ip or None) and ip[:45],
        user_agent=(user_agent or None) and user_agent[:200],
        method=method[:16],
        second_factor=second_factor,
    )
    db.add(row)
    db.flush()
    return Opened(row=row, key=key)


# Every browser request: built once; one statement brings the session row and the
# person with their roles and designations (as the token lookup does).
_BY_KEY = (
    select(WebSession, Person)
    .join(Person, Person.id == WebSession.person_id)
    .where(WebSession.key_hash == bindparam("key_hash"), WebSession.revoked_at.is_(None))
    .options(joinedload(Person.role_rows), joinedload(Person.designations))
)

# On a content route the person's row is locked with the lookup (the export quota
# counts one content request of theirs at a time), as for bearer tokens.
_BY_KEY_LOCKED = _BY_KEY.with_for_update(of=Person.__table__)


def session_for_key(
    db: Session, key: str, *, lock: bool = False
) -> tuple[WebSession, Person] | None:
    """The live (not ended) session of ``key`` and its person, or ``None``; one statement."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        return None
    stmt = _BY_KEY_LOCKED if lock else _BY_KEY
    found = db.execute(stmt, {"key_hash": hash_key(key)}).unique().first()
    if found is None:
        return None
    return found[0], found[1]


def expiry(v: Vault, row: WebSession, now: datetime) -> str | None:
    """Why the session has expired (``absolute_timeout``, ``idle_timeout``), or ``None``."""
    if now >= row.expires_at or now < row.created_at - timedelta(minutes=5):
        return "absolute_timeout"
    if now - row.last_seen_at > timedelta(minutes=v.config.auth.session_idle_minutes):
        return "idle_timeout"
    return None


def touch(row: WebSession, now: datetime) -> None:
    """Restart the idle clock (written at most every ``TOUCH_EVERY``)."""
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now


def end_session(v: Vault, db: Session, caller: Caller, row: WebSession, reason: str) -> None:
    """End one session (sign-out or expiry); audited as ``auth:logout`` with ``reason``.
    A session already ended (e.g. by :func:`end_all_sessions`) is left as it is."""
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    row.ended_reason = reason[:32]
    auditing.record(
        v,
        db,
        caller,
        Action.AUTH_LOGOUT,
        outcome="ok",
        reason=reason,
        resource={"person": row.person_id, "session": row.id},
    )


def end_all_sessions(
    v: Vault,
    db: Session,
    caller: Caller,
    person: Person,
    reason: str,
    *,
    except_session: int | None = None,
) -> int:
    """End every live session of ``person`` at once, in the caller's transaction.

    The consequence of an act already decided (a password or one-time-code change, a
    change of roles, a departure, an admin's or the person's own request), so it asks
    the policy nothing. Audited as ``auth:logout`` with ``reason`` when any ended.
    ``except_session`` is left open: the person's own change of password or one-time
    code ends every other session, not the one they made it in.

    Returns:
        How many sessions ended.
    """
    which = [WebSession.person_id == person.id, WebSession.revoked_at.is_(None)]
    if except_session is not None:
        which.append(WebSession.id != except_session)
    result = db.execute(
        update(WebSession)
        .where(*which)
        .values(revoked_at=utcnow(), ended_reason=reason[:32])
        .execution_options(synchronize_session="fetch")
    )
    ended = cast(CursorResult[Any], result).rowcount
    if ended:
        auditing.record(
            v,
            db,
            caller,
            Action.AUTH_LOGOUT,
            outcome="ok",
            reason=reason,
            resource={"person": person.id},
            details={"sessions": int(ended), "everywhere": except_session is None},
        )
    return int(ended or 0)


def sign_out_everywhere(v: Vault, db: Session, caller: Caller) -> int:
    """The caller ends every session of theirs, this one included (audited)."""
    person = caller.person
    if person is None:
        return 0
    authz.require(v, db, caller, Action.AUTH_LOGOUT)
    return end_all_sessions(v, db, caller, person, "signed_out_everywhere")


def revoke_sessions(v: Vault, db: Session, caller: Caller, person: Person) -> int:
    """An admin ends every session of ``person`` (audited as ``session:revoke``)."""
    authz.require(v, db, caller, Action.SESSION_REVOKE, resource={"person": person.id})
    ended = end_all_sessions(v, db, caller, person, "revoked_by_admin")
    auditing.record(
        v,
        db,
        caller,
        Action.SESSION_REVOKE,
        resource={"person": person.id},
        details={"sessions": ended},
    )
    return ended


def live_sessions(v: Vault, db: Session, person: Person) -> list[WebSession]:
    """``person``'s sessions that have not ended or expired, newest first."""
    now = utcnow()
    rows = db.scalars(
        select(WebSession)
        .where(
            WebSession.person_id == person.id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
        )
        .order_by(WebSession.id.desc())
        .limit(100)
    )
    return [r for r in rows if expiry(v, r, now) is None]
