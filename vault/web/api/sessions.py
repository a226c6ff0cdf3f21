"""Browser sessions: one's own (list, sign out everywhere); an admin ends a person's."""

from __future__ import annotations

from vault.errors import NotFound
from vault.identity import sessions
from vault.models import Person, WebSession
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Reply, Timestamp
from vault.web.auth.sessions import current_session_id
from vault.web.context import caller, db, vault
from vault.web.routing import route


class SessionCard(Reply):
    """A live browser session (never its key)."""

    id: int
    created_at: Timestamp
    last_seen_at: Timestamp
    expires_at: Timestamp
    method: str
    second_factor: bool
    ip: str | None
    user_agent: str | None
    current: bool

    @classmethod
    def of(cls, row: WebSession, current: int | None) -> SessionCard:
        return cls(
            id=row.id,
            created_at=row.created_at.isoformat(),
            last_seen_at=row.last_seen_at.isoformat(),
            expires_at=row.expires_at.isoformat(),
            method=row.method,
            second_factor=row.second_factor,
            ip=row.ip,
            user_agent=row.user_agent,
            current=row.id == current,
        )


class SessionList(Reply):
    """Live sessions, newest first."""

    items: list[SessionCard]


class Ended(Reply):
    """How many sessions ended."""

    ended: int


@route(
    bp,
    "/me/sessions",
    action=Action.PROFILE_READ,
    summary="Where you are signed in",
    responses={200: SessionList},
)
def my_sessions() -> SessionList:
    person: Person = caller().person  # type: ignore[assignment]
    here = current_session_id()
    rows = sessions.live_sessions(vault(), db(), person)
    return SessionList(items=[SessionCard.of(r, here) for r in rows])


@route(
    bp,
    "/me/sessions/end-all",
    action=Action.AUTH_LOGOUT,
    methods=["POST"],
    summary="Sign out everywhere: every browser session of yours ends",
    responses={200: Ended},
)
def my_sessions_end() -> Ended:
    return Ended(ended=sessions.sign_out_everywhere(vault(), db(), caller()))


@route(
    bp,
    "/people/<int:person_id>/sessions/revoke",
    action=Action.SESSION_REVOKE,
    methods=["POST"],
    summary="End every browser session of a person (admin)",
    responses={200: Ended},
)
def person_sessions_revoke(person_id: int) -> Ended:
    person = db().get(Person, person_id)
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    return Ended(ended=sessions.revoke_sessions(vault(), db(), caller(), person))
