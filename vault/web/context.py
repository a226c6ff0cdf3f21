"""Per-request access to the vault, the database session and the caller."""

from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy.orm import Session, lazyload

from vault import uow
from vault.caller import Caller
from vault.errors import Unauthenticated, VaultError
from vault.models import Person
from vault.runtime import Vault


def vault() -> Vault:
    """The app's vault."""
    v: Vault = current_app.extensions["vault"]
    return v


def db() -> Session:
    """The request's database session (closed at teardown)."""
    if "db" not in g:
        view = current_app.view_functions.get(request.endpoint or "")
        spec = getattr(view, "route_spec", None)
        read_only = spec is not None and spec.read_only
        v = vault()
        if not read_only:
            g.db = v.sessions()
        elif "Authorization" in request.headers:
            g.db = v.token_read_sessions()  # nothing of a token's is written on a read
        else:
            g.db = v.read_sessions()  # a browser's session row is, now and then
    session: Session = g.db
    return session


def caller() -> Caller:
    """The authenticated caller of this request, or 401."""
    who = g.get("who")
    if who is None:
        raise Unauthenticated("sign in or send a bearer token", code="unauthenticated")
    return Caller(
        g.get("person"),
        who=who,
        load=_load_person,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:200] or None,
        request_id=g.get("request_id", ""),
        locked=bool(g.get("person_locked")),
        client_request_id=g.get("client_request_id"),
        via_token=g.get("auth_method") == "token",
    )


def _load_person(person_id: int) -> Person | None:
    """The caller's row, when a service asks for it (once per request: kept in ``g``)."""
    # Its roles and designations load when first read, not with it.
    person = db().get(
        Person, person_id, options=(lazyload(Person.role_rows), lazyload(Person.designations))
    )
    g.person = person
    return person


def refused(exc: BaseException) -> None:
    """A page shows this error itself: roll the act back and keep what the refusal
    carries (its audit event), as the error handler does for errors it renders."""
    session = g.get("db")
    if session is None and isinstance(exc, VaultError) and exc.keep:
        session = db()  # refused before any database work: record it all the same
    if session is not None:
        uow.finish(session, exc)
