"""The unit of work: one transaction per request or CLI command, committed at the boundary.

Services never commit. The boundary (the request's teardown, a CLI command) commits
once when the work succeeded, or rolls it back. A refusal is still recorded: the
error carries its audit events (:attr:`vault.errors.VaultError.audit_events`), and
after rolling back the act the boundary writes them in a short transaction of their
own, so that every use is logged, or it does not happen, and a denied act leaves
nothing behind but its audit event. If even that write fails, the error that
reaches the caller is the storage failure (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from audit import Event
from vault.auditing import PENDING
from vault.runtime import Vault


def write_refusal(v: Vault, session: Session, events: Iterable[Event]) -> None:
    """Append the events of a refused act in their own transaction and commit it."""
    events = list(events)
    if not events:
        return
    conn = session.connection()
    for ev in events:
        v.audit.append(conn, ev)
    session.info.setdefault(PENDING, []).extend(events)
    session.commit()


def finish(v: Vault, session: Session, exc: BaseException | None) -> None:
    """End the unit of work: commit on success; on failure roll back, then record the
    refusal the error carries (if any)."""
    if exc is None:
        session.commit()
        return
    session.rollback()
    write_refusal(v, session, getattr(exc, "audit_events", ()))


@contextmanager
def unit_of_work(v: Vault) -> Iterator[Session]:
    """A session whose work is committed once at the end, or rolled back on error."""
    session = v.sessions()
    try:
        yield session
    except BaseException as exc:
        try:
            finish(v, session, exc)
        finally:
            session.close()
        raise
    try:
        finish(v, session, None)
    finally:
        session.close()
