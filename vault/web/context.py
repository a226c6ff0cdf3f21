"""Per-request access to the vault, the database session and the caller."""

from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy.orm import Session

from vault import uow
from vault.caller import Caller
from vault.errors import Unauthenticated
from vault.runtime import Vault


def vault() -> Vault:
    """The app's vault."""
    v: Vault = current_app.extensions["vault"]
    return v


def db() -> Session:
    """The request's database session (closed at teardown)."""
    if "db" not in g:
        g.db = vault().sessions()
    session: Session = g.db
    return session


def caller() -> Caller:
    """The authenticated caller of this request, or 401."""
    person = g.get("person")
    if person is None:
        raise Unauthenticated("sign in or send a bearer token", code="unauthenticated")
    return Caller(
        person=person,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:200] or None,
        request_id=g.get("request_id", ""),
        locked=bool(g.get("person_locked")),
    )


def refused(exc: BaseException) -> None:
    """A page shows this error itself: roll the act back and keep what the refusal
    carries (its audit event), as the error handler does for errors it renders."""
    session = g.get("db")
    if session is None and getattr(exc, "keep", ()):
        session = db()  # refused before any database work: record it all the same
    if session is not None:
        uow.finish(session, exc)
