"""Requests for temporary access: ask, list, look at one, approve, deny, withdraw."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vault.db import utcnow
from vault.grants import requests
from vault.models import AccessRequest
from vault.models.grants import GrantAction
from vault.policy import Action
from vault.web.api.blueprint import bp
from vault.web.api.schema import Body, Flag, Id, PageQuery, Reply, Timestamp, as_enum
from vault.web.context import caller, db, vault
from vault.web.routing import route


class Approval(Reply):
    """One custodian's approval."""

    approver_id: int
    at: Timestamp


class AccessRequestCard(Reply):
    """An access request as the API shows it."""

    id: int
    requester_id: int
    client_id: int
    record_id: int | None
    tier: str
    actions: list[str]
    reason: str
    duration_minutes: int
    approvals_needed: int
    approvals: list[Approval]
    status: str
    created_at: Timestamp
    expires_at: Timestamp
    decided_at: Timestamp | None
    decision_note: str | None

    @classmethod
    def of(cls, r: AccessRequest) -> AccessRequestCard:
        return cls(
            id=r.id,
            requester_id=r.requester_id,
            client_id=r.client_id,
            record_id=r.record_id,
            tier=r.tier,
            actions=r.action_list,
            reason=r.reason,
            duration_minutes=r.duration_minutes,
            approvals_needed=r.approvals_needed,
            approvals=[
                Approval(approver_id=a.approver_id, at=a.created_at.isoformat())
                for a in r.approvals
            ],
            status=r.status_at(utcnow()),
            created_at=r.created_at.isoformat(),
            expires_at=r.expires_at.isoformat(),
            decided_at=r.decided_at.isoformat() if r.decided_at else None,
            decision_note=r.decision_note,
        )


class AccessRequestPage(Reply):
    """One page of requests."""

    items: list[AccessRequestCard]
    limit: int
    offset: int


class AccessRequestBody(Body):
    """What to ask for: exactly one of record_id or client_id, the acts, why, how long."""

    record_id: Id | None = None
    client_id: Id | None = None
    actions: list[Annotated[GrantAction, as_enum(GrantAction)]] = Field(
        default=[GrantAction.CONSULT], min_length=1, max_length=len(GrantAction)
    )
    reason: str = Field(max_length=1000)
    duration_hours: int | None = Field(None, ge=1, le=10**6)
    duration_minutes: int | None = Field(None, ge=1, le=10**7)


class AccessRequestQuery(PageQuery):
    """Mine, or those waiting for me."""

    waiting: Flag = Field(False, description="requests I may decide")
    status: str | None = Field(None, max_length=16, description="filter")


class NoteBody(Body):
    """An optional note on the decision."""

    note: str | None = Field(None, max_length=500)


@route(
    bp,
    "/access-requests",
    action=Action.REQUEST_CREATE,
    methods=["POST"],
    summary="Ask for temporary access to one record or one client file",
    body=AccessRequestBody,
    responses={201: AccessRequestCard},
)
def create_request(body: AccessRequestBody) -> AccessRequestCard:
    req = requests.request_access(
        vault(),
        db(),
        caller(),
        requests.Ask(
            reason=body.reason,
            actions=tuple(a.value for a in body.actions),
            record_id=body.record_id,
            client_id=body.client_id,
            duration_hours=body.duration_hours,
            duration_minutes=body.duration_minutes,
        ),
    )
    return AccessRequestCard.of(req)


@route(
    bp,
    "/access-requests",
    action=Action.REQUEST_READ,
    summary="My requests, or (waiting=1) those waiting for me as custodian",
    query=AccessRequestQuery,
    responses={200: AccessRequestPage},
)
def list_requests(query: AccessRequestQuery) -> AccessRequestPage:
    who = caller()
    assert who.person is not None
    found = requests.requests_for(
        db(),
        who.person,
        mine=not query.waiting,
        status=query.status,
        v=vault(),
        limit=query.limit,
        offset=query.offset,
    )
    return AccessRequestPage(
        items=[AccessRequestCard.of(r) for r in found], limit=query.limit, offset=query.offset
    )


@route(
    bp,
    "/access-requests/<int:request_id>",
    action=Action.REQUEST_READ,
    summary="One request (mine, or in my custody scope)",
    responses={200: AccessRequestCard},
)
def get_request(request_id: int) -> AccessRequestCard:
    who = caller()
    assert who.person is not None
    return AccessRequestCard.of(requests.get_request(db(), who.person, request_id))


@route(
    bp,
    "/access-requests/<int:request_id>/approve",
    action=Action.REQUEST_APPROVE,
    methods=["POST"],
    summary="Approve a request (custodian in scope; never your own)",
    body=NoteBody,
    responses={200: AccessRequestCard},
)
def approve(request_id: int, body: NoteBody) -> AccessRequestCard:
    done = requests.approve(vault(), db(), caller(), request_id, body.note or "")
    return AccessRequestCard.of(done)


@route(
    bp,
    "/access-requests/<int:request_id>/deny",
    action=Action.REQUEST_DENY,
    methods=["POST"],
    summary="Turn a request down",
    body=NoteBody,
    responses={200: AccessRequestCard},
)
def deny(request_id: int, body: NoteBody) -> AccessRequestCard:
    done = requests.deny(vault(), db(), caller(), request_id, body.note or "")
    return AccessRequestCard.of(done)


@route(
    bp,
    "/access-requests/<int:request_id>/withdraw",
    action=Action.REQUEST_WITHDRAW,
    methods=["POST"],
    summary="Withdraw my pending request",
    responses={200: AccessRequestCard},
)
def withdraw(request_id: int) -> AccessRequestCard:
    return AccessRequestCard.of(requests.withdraw(vault(), db(), caller(), request_id))
