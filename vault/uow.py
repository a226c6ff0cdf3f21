"""The unit of work: one transaction per request or CLI command, committed at the boundary.

Services never commit. The boundary (a route, a CLI command) commits once when the
work succeeded, or rolls it back. A refusal is still recorded: the error carries what
must be kept (:attr:`vault.errors.VaultError.keep`: its audit event, an alert, a failed
sign-in's count), and after rolling back the act the boundary writes that in a short
transaction of its own. So every use is logged, or it does not happen, and a refused
act leaves nothing behind but its record. If even that write fails, the error that
reaches the caller is the storage failure (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from sqlalchemy.orm import Session

from vault.db import WRITER
from vault.runtime import Vault

P = ParamSpec("P")
T = TypeVar("T")


def finish(session: Session, exc: BaseException | None) -> None:
    """End the unit of work: commit on success; on failure roll back, then keep what the
    refusal carries, in its own transaction."""
    if exc is None:
        session.commit()
        return
    session.rollback()
    keep = getattr(exc, "keep", ())
    if not keep:
        return
    writer = session.info.get(WRITER)
    if writer is None:
        for step in keep:
            step(session)
        session.commit()
        return
    # A read-only session (no transaction on PostgreSQL) keeps nothing itself: what the
    # refusal carries is written in one transaction of a writing session.
    with writer() as kept:
        for step in keep:
            step(kept)
        kept.commit()


@contextmanager
def unit_of_work(v: Vault) -> Iterator[Session]:
    """A new session whose work is committed once at the end, or rolled back on error."""
    session = v.sessions()
    try:
        yield session
    except BaseException as exc:
        try:
            finish(session, exc)
        finally:
            session.close()
        raise
    try:
        finish(session, None)
    finally:
        session.close()


def run(session: Session, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Do ``fn`` as one unit of work on an open session (scripts, the demo, tests)."""
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        finish(session, exc)
        raise
    finish(session, None)
    return result
