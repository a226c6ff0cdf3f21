"""Live grants of temporary access: mine, with the time left; revoke one."""

from __future__ import annotations

from pydantic import Field

from vault.db import utcnow
from vault.grants import live
from vault.models import Grant
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Body, PageQuery, Reply, Timestamp
from vault.web.context import caller, db, vault
from vault.web.routing import route


class GrantCard(Reply):
    """A grant as the API shows it, with the time left."""

    id: int
    request_id: int | None
    person_id: int
    client_id: int
    record_id: int | None
    actions: list[str]
    starts_at: Timestamp
    expires_at: Timestamp
    status: str
    seconds_left: int
    revoked_at: Timestamp | None
    revoke_reason: str | None

    @classmethod
    def of(cls, g: Grant) -> GrantCard:
        now = utcnow()
        left = max(0, int((g.expires_at - now).total_seconds())) if g.is_active(now) else 0
        return cls(
            id=g.id,
            request_id=g.request_id,
            person_id=g.person_id,
            client_id=g.client_id,
            record_id=g.record_id,
            actions=g.action_list,
            starts_at=g.starts_at.isoformat(),
            expires_at=g.expires_at.isoformat(),
            status=g.status_at(now),
            seconds_left=left,
            revoked_at=g.revoked_at.isoformat() if g.revoked_at else None,
            revoke_reason=g.revoke_reason,
        )


class GrantPage(Reply):
    """One page of grants."""

    items: list[GrantCard]
    limit: int
    offset: int


class RevokeBody(Body):
    """Why (optional)."""

    reason: str | None = Field(None, max_length=200)


@route(
    bp,
    "/grants",
    action=Action.GRANT_READ,
    summary="My grants, with the time left",
    query=PageQuery,
    responses={200: GrantPage},
)
def list_grants(query: PageQuery) -> GrantPage:
    who = caller()
    assert who.person is not None
    found = live.grants_of(db(), who.person, limit=query.limit, offset=query.offset)
    return GrantPage(items=[GrantCard.of(g) for g in found], limit=query.limit, offset=query.offset)


@route(
    bp,
    "/grants/<int:grant_id>/revoke",
    action=Action.GRANT_REVOKE,
    methods=["POST"],
    summary="Revoke a grant (custodian in scope, or admin)",
    body=RevokeBody,
    responses={200: GrantCard},
)
def revoke(grant_id: int, body: RevokeBody) -> GrantCard:
    return GrantCard.of(live.revoke(vault(), db(), caller(), grant_id, body.reason or ""))
