"""API for temporary access, departures, alerts, notifications and policy explanations."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from flask import Response, jsonify, request

from vault import access
from vault.db import utcnow
from vault.errors import InvalidInput, NotFound
from vault.grants import live, requests
from vault.models import AccessRequest, Alert, Grant, Notification, Person
from vault.oversight import alerts as alerts_
from vault.oversight import notifications as notifications_
from vault.people import departures
from vault.policy import Action
from vault.web.api import parse
from vault.web.api.blueprint import bp
from vault.web.context import caller, db, vault
from vault.web.routing import route


def request_json(r: AccessRequest) -> dict[str, Any]:
    """An access request as the API shows it."""
    now = utcnow()
    return {
        "id": r.id,
        "requester_id": r.requester_id,
        "client_id": r.client_id,
        "record_id": r.record_id,
        "tier": r.tier,
        "actions": r.action_list,
        "reason": r.reason,
        "duration_minutes": r.duration_minutes,
        "approvals_needed": r.approvals_needed,
        "approvals": [
            {"approver_id": a.approver_id, "at": a.created_at.isoformat()} for a in r.approvals
        ],
        "status": r.status_at(now),
        "created_at": r.created_at.isoformat(),
        "expires_at": r.expires_at.isoformat(),
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "decision_note": r.decision_note,
    }


def grant_json(g: Grant) -> dict[str, Any]:
    """A grant as the API shows it, with the time left."""
    now = utcnow()
    left = max(0, int((g.expires_at - now).total_seconds())) if g.is_active(now) else 0
    return {
        "id": g.id,
        "request_id": g.request_id,
        "person_id": g.person_id,
        "client_id": g.client_id,
        "record_id": g.record_id,
        "actions": g.action_list,
        "starts_at": g.starts_at.isoformat(),
        "expires_at": g.expires_at.isoformat(),
        "status": g.status_at(now),
        "seconds_left": left,
        "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
        "revoke_reason": g.revoke_reason,
    }


@route(
    bp,
    "/access-requests",
    action=Action.REQUEST_CREATE,
    methods=["POST"],
    summary="Ask for temporary access to one record or one client file",
    body={
        "record_id": "integer",
        "client_id": "integer",
        "actions": "array",
        "reason": "string",
        "duration_hours": "integer",
        "duration_minutes": "integer",
    },
)
def create_request() -> tuple[Response, int]:
    data = parse.json_body()
    actions = data.get("actions", ["consult"])
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise InvalidInput("actions must be a list of strings", code="invalid_actions")
    req = requests.request_access(
        vault(),
        db(),
        caller(),
        requests.Ask(
            reason=parse.string(data, "reason", max_len=1000) or "",
            actions=tuple(actions),
            record_id=parse.integer(data.get("record_id"), "record_id", required=False),
            client_id=parse.integer(data.get("client_id"), "client_id", required=False),
            duration_hours=parse.integer(
                data.get("duration_hours"), "duration_hours", required=False, lo=1, hi=10**6
            ),
            duration_minutes=parse.integer(
                data.get("duration_minutes"), "duration_minutes", required=False, lo=1, hi=10**7
            ),
        ),
    )
    return jsonify(request_json(req)), 201


@route(
    bp,
    "/access-requests",
    action=Action.REQUEST_READ,
    summary="My requests, or (waiting=1) those waiting for me as custodian",
    query=[
        ("waiting", "boolean", "requests I may decide"),
        ("status", "string", "filter"),
        ("limit", "integer", "page size"),
        ("offset", "integer", "skip"),
    ],
)
def list_requests() -> Response:
    limit, offset = parse.page(vault().config.page_size_max)
    who = caller()
    assert who.person is not None
    waiting = request.args.get("waiting") in ("1", "true", "yes")
    found = requests.requests_for(
        db(),
        who.person,
        mine=not waiting,
        status=request.args.get("status") or None,
        v=vault(),
        limit=limit,
        offset=offset,
    )
    return jsonify(items=[request_json(r) for r in found], limit=limit, offset=offset)


@route(
    bp,
    "/access-requests/<int:request_id>",
    action=Action.REQUEST_READ,
    summary="One request (mine, or in my custody scope)",
)
def get_request(request_id: int) -> Response:
    who = caller()
    assert who.person is not None
    return jsonify(request_json(requests.get_request(db(), who.person, request_id)))


def _note() -> str:
    if not request.get_data():
        return ""
    return parse.string(parse.json_body(), "note", required=False, max_len=500) or ""


@route(
    bp,
    "/access-requests/<int:request_id>/approve",
    action=Action.REQUEST_APPROVE,
    methods=["POST"],
    summary="Approve a request (custodian in scope; never your own)",
    body={"note": "string"},
)
def approve(request_id: int) -> Response:
    return jsonify(request_json(requests.approve(vault(), db(), caller(), request_id, _note())))


@route(
    bp,
    "/access-requests/<int:request_id>/deny",
    action=Action.REQUEST_DENY,
    methods=["POST"],
    summary="Turn a request down",
    body={"note": "string"},
)
def deny(request_id: int) -> Response:
    return jsonify(request_json(requests.deny(vault(), db(), caller(), request_id, _note())))


@route(
    bp,
    "/access-requests/<int:request_id>/withdraw",
    action=Action.REQUEST_WITHDRAW,
    methods=["POST"],
    summary="Withdraw my pending request",
)
def withdraw(request_id: int) -> Response:
    return jsonify(request_json(requests.withdraw(vault(), db(), caller(), request_id)))


@route(
    bp,
    "/grants",
    action=Action.GRANT_READ,
    summary="My grants, with the time left",
    query=[("limit", "integer", "page size"), ("offset", "integer", "skip")],
)
def list_grants() -> Response:
    limit, offset = parse.page(vault().config.page_size_max)
    who = caller()
    assert who.person is not None
    found = live.grants_of(db(), who.person, limit=limit, offset=offset)
    return jsonify(items=[grant_json(g) for g in found], limit=limit, offset=offset)


@route(
    bp,
    "/grants/<int:grant_id>/revoke",
    action=Action.GRANT_REVOKE,
    methods=["POST"],
    summary="Revoke a grant (custodian in scope, or admin)",
    body={"reason": "string"},
)
def revoke(grant_id: int) -> Response:
    reason = ""
    if request.get_data():
        reason = parse.string(parse.json_body(), "reason", required=False, max_len=200) or ""
    return jsonify(grant_json(live.revoke(vault(), db(), caller(), grant_id, reason)))


def _person(person_id: int) -> Person:
    person = db().get(Person, person_id)
    if person is None:
        raise NotFound("no such person", code="person_not_found")
    return person


@route(
    bp,
    "/people/<int:person_id>/departure",
    action=Action.PERSON_DEPART,
    methods=["POST"],
    summary="Set a person's leaving date: their access ends now",
    body={"leaving_on": "string"},
)
def depart(person_id: int) -> Response:
    data = parse.json_body()
    day = parse.day(data.get("leaving_on"), "leaving_on")
    if day is None:
        raise InvalidInput("leaving_on is required", code="missing_leaving_on")
    person = _person(person_id)
    revoked = departures.set_departure(vault(), db(), caller(), person, day)
    return jsonify(
        person_id=person.id,
        leaving_on=person.leaving_on.isoformat() if person.leaving_on else None,
        grants_revoked=revoked,
    )


@route(
    bp,
    "/people/<int:person_id>/departure-report",
    action=Action.DEPARTURE_REPORT,
    summary="Records and clients the person used lately (JSON, or format=csv)",
    query=[("days", "integer", "window (default 90)"), ("format", "string", "json|csv")],
)
def departure_report(person_id: int) -> Response:
    days = parse.integer(request.args.get("days"), "days", required=False, lo=1, hi=3650)
    person = _person(person_id)
    touches = departures.departure_report(vault(), db(), caller(), person, days)
    rows = [
        {
            "time": t.time.isoformat(),
            "action": t.action,
            "record_id": t.record_id,
            "file_number": t.file_number,
            "client_id": t.client_id,
            "client_code": t.client_code,
            "client_name": t.client_name,
            "tier": t.tier,
        }
        for t in touches
    ]
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(
            out,
            fieldnames=list(rows[0])
            if rows
            else [
                "time",
                "action",
                "record_id",
                "file_number",
                "client_id",
                "client_code",
                "client_name",
                "tier",
            ],
        )
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="departure-{person.id}.csv"',
                "Cache-Control": "no-store",
            },
        )
    clients = sorted({(t.client_code, t.client_name, t.tier) for t in touches if t.client_code})
    return jsonify(
        person={
            "id": person.id,
            "email": person.email,
            "name": person.name,
            "leaving_on": person.leaving_on.isoformat() if person.leaving_on else None,
        },
        days=days or vault().config.departure_report_days,
        touches=rows,
        clients=[{"code": c, "name": n, "tier": t} for c, n, t in clients],
    )


@route(
    bp,
    "/alerts",
    action=Action.ALERT_READ,
    summary="Open alerts (auditors)",
    query=[("all", "boolean", "include cleared")],
)
def alerts() -> Response:
    from sqlalchemy import select

    stmt = select(Alert).order_by(Alert.id.desc()).limit(vault().config.page_size_max)
    if request.args.get("all") not in ("1", "true"):
        stmt = stmt.where(Alert.cleared_at.is_(None))
    items = [
        {
            "id": a.id,
            "kind": a.kind,
            "person_id": a.person_id,
            "summary": a.summary,
            "created_at": a.created_at.isoformat(),
            "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None,
        }
        for a in db().scalars(stmt)
    ]
    under_review = [
        {"id": p.id, "email": p.email}
        for p in db().scalars(select(Person).where(Person.under_review.is_(True)))
    ]
    return jsonify(items=items, under_review=under_review)


@route(
    bp,
    "/people/<int:person_id>/review/clear",
    action=Action.REVIEW_CLEAR,
    methods=["POST"],
    summary="Clear a person under review (auditors)",
    body={"note": "string"},
)
def clear_review(person_id: int) -> Response:
    note = parse.string(parse.json_body(), "note", max_len=500) or ""
    alerts_.clear_review(vault(), db(), caller(), _person(person_id), note)
    return jsonify(person_id=person_id, under_review=False)


def notification_json(n: Notification) -> dict[str, Any]:
    """A notification as the API shows it."""
    return {
        "id": n.id,
        "kind": n.kind,
        "subject": n.subject,
        "body": n.body,
        "link": n.link,
        "created_at": n.created_at.isoformat(),
        "read": n.read_at is not None,
    }


@route(
    bp,
    "/notifications",
    action=Action.NOTIFICATION_READ,
    summary="My notifications",
    query=[("unread", "boolean", "only unread")],
)
def notifications() -> Response:
    who = caller()
    assert who.person is not None
    found = notifications_.inbox(db(), who.person, unread_only=request.args.get("unread") == "1")
    return jsonify(items=[notification_json(n) for n in found])


@route(
    bp,
    "/notifications/<int:note_id>/read",
    action=Action.NOTIFICATION_READ,
    methods=["POST"],
    summary="Mark one of my notifications read",
)
def notification_read(note_id: int) -> Response:
    who = caller()
    assert who.person is not None
    notifications_.mark_read(db(), who.person, note_id)
    return jsonify(id=note_id, read=True)


@route(
    bp,
    "/policy/explain",
    action=Action.POLICY_EXPLAIN,
    summary="Explain the decision for a person, action and record (admins, auditors)",
    query=[
        ("person_id", "integer", "who"),
        ("action", "string", "e.g. record:consult"),
        ("record_id", "integer", "which record"),
    ],
)
def explain() -> Response:
    args = request.args
    person = _person(parse.integer(args.get("person_id"), "person_id") or 0)
    try:
        action = Action(args.get("action", ""))
    except ValueError:
        raise InvalidInput("unknown action", code="invalid_action") from None
    record_id = parse.integer(args.get("record_id"), "record_id", required=False)
    return jsonify(asdict(access.explain(vault(), db(), person, action, record_id)))
