"""API views: parse input, call one service, render. Every route declares its action."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, jsonify, request, stream_with_context
from sqlalchemy import text

from audit import query_events
from vault import access
from vault.archive import records
from vault.errors import InvalidInput, Unavailable
from vault.models import Attachment, Client, Person, Record, Section
from vault.policy import Action
from vault.web.api import parse
from vault.web.api.blueprint import bp
from vault.web.context import caller, db, vault
from vault.web.openapi import document
from vault.web.routing import route

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def client_json(c: Client) -> dict[str, Any]:
    """A client's catalogue entry (sensitive fields never leave, not even encrypted)."""
    return {
        "id": c.id,
        "code": c.code,
        "name": c.name,
        "tier": c.tier,
        "kind": c.kind,
        "relationship": c.relationship,
        "has_tax_id": c.tax_id_ct is not None,
        "has_bank_account": c.bank_account_ct is not None,
        "created_at": c.created_at.isoformat(),
    }


def record_json(r: Record) -> dict[str, Any]:
    """A record's catalogue card: metadata only."""
    return {
        "id": r.id,
        "client_id": r.client_id,
        "client_code": r.client.code,
        "file_number": r.file_number,
        "section": Section(r.section).name.lower(),
        "year": r.year,
        "title": r.title,
        "doc_type": r.doc_type,
        "doc_date": r.doc_date.isoformat() if r.doc_date else None,
        "valid_until": r.valid_until.isoformat() if r.valid_until else None,
        "content_type": r.content_type,
        "content_size": r.content_size,
        "deposited_by": r.deposited_by_id,
        "created_at": r.created_at.isoformat(),
    }


def attachment_json(a: Attachment) -> dict[str, Any]:
    """An attachment's catalogue entry."""
    return {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size}


@route(bp, "/healthz", action=Action.PUBLIC, public=True, summary="Liveness")
def healthz() -> Response:
    return jsonify(status="ok")


@route(bp, "/readyz", action=Action.PUBLIC, public=True, summary="Readiness: database and keys")
def readyz() -> Response:
    try:
        db().execute(text("SELECT 1"))
        vault().keys.secret("audit-mac")
    except Exception:  # noqa: BLE001 - any failure means not ready
        raise Unavailable("database or key provider unavailable", code="not_ready") from None
    return jsonify(status="ready")


@route(bp, "/openapi.json", action=Action.PUBLIC, public=True, summary="This API's description")
def openapi() -> Response:
    return jsonify(document())


@route(bp, "/me", action=Action.PROFILE_READ, summary="The caller's own profile")
def me() -> Response:
    p: Person = caller().person  # type: ignore[assignment]
    return jsonify(
        id=p.id,
        email=p.email,
        name=p.name,
        roles=sorted(p.role_set),
        hired_on=p.hired_on.isoformat(),
        custodian_tiers=sorted(p.custodian_tiers()),
        leaving_on=p.leaving_on.isoformat() if p.leaving_on else None,
    )


@route(
    bp,
    "/clients",
    action=Action.CLIENT_READ,
    summary="Search the client catalogue",
    query=[
        ("q", "string", "name or code contains"),
        ("tier", "string", "core|special|general"),
        ("tax_id", "string", "exact match via blind index"),
        ("bank_account", "string", "exact match via blind index"),
        ("limit", "integer", "page size (hard cap)"),
        ("offset", "integer", "skip"),
    ],
)
def list_clients() -> Response:
    limit, offset = parse.page(vault().config.page_size_max)
    found = records.find_clients(
        vault(),
        db(),
        q=request.args.get("q"),
        tier=request.args.get("tier"),
        tax_id=request.args.get("tax_id"),
        bank_account=request.args.get("bank_account"),
        limit=limit,
        offset=offset,
    )
    return jsonify(items=[client_json(c) for c in found], limit=limit, offset=offset)


@route(
    bp,
    "/clients",
    action=Action.CLIENT_CREATE,
    methods=["POST"],
    summary="Open a client file",
    body={
        "code": "string",
        "name": "string",
        "tier": "string",
        "kind": "string",
        "relationship": "string",
        "tax_id": "string",
        "bank_account": "string",
    },
)
def create_client() -> tuple[Response, int]:
    data = parse.json_body()
    client = records.create_client(
        vault(),
        db(),
        caller(),
        code=parse.string(data, "code", max_len=32) or "",
        name=parse.string(data, "name", max_len=200) or "",
        tier=parse.string(data, "tier", max_len=16) or "",
        kind=parse.string(data, "kind", required=False, max_len=32) or "company",
        relationship=parse.string(data, "relationship", required=False, max_len=16) or "active",
        tax_id=parse.string(data, "tax_id", required=False, max_len=64),
        bank_account=parse.string(data, "bank_account", required=False, max_len=64),
    )
    return jsonify(client_json(client)), 201


@route(bp, "/clients/<int:client_id>", action=Action.CLIENT_READ, summary="A client's card")
def get_client(client_id: int) -> Response:
    return jsonify(client_json(records.get_client(db(), client_id)))


@route(
    bp,
    "/records",
    action=Action.RECORD_READ,
    summary="Search the record catalogue",
    query=[
        ("client_id", "integer", "client"),
        ("section", "string", "section"),
        ("year", "integer", "year volume"),
        ("q", "string", "title or file number contains"),
        ("limit", "integer", "page size (hard cap)"),
        ("offset", "integer", "skip"),
    ],
)
def list_records() -> Response:
    limit, offset = parse.page(vault().config.page_size_max)
    found = records.list_records(
        db(),
        client_id=parse.integer(request.args.get("client_id"), "client_id", required=False),
        section=request.args.get("section") or None,
        year=parse.integer(request.args.get("year"), "year", required=False, hi=9999),
        q=request.args.get("q") or None,
        limit=limit,
        offset=offset,
    )
    return jsonify(items=[record_json(r) for r in found], limit=limit, offset=offset)


@route(
    bp,
    "/records",
    action=Action.RECORD_DEPOSIT,
    methods=["POST"],
    summary="Deposit a record (intake); the depositor cannot read it back",
    body={
        "client_id": "integer",
        "section": "string",
        "title": "string",
        "content": "string",
        "content_base64": "string",
        "year": "integer",
        "doc_type": "string",
        "doc_date": "string",
        "valid_until": "string",
        "content_type": "string",
    },
)
def deposit() -> tuple[Response, int]:
    data = parse.json_body()
    client_id = parse.integer(data.get("client_id"), "client_id") or 0
    section = data.get("section")
    if not isinstance(section, str | int) or isinstance(section, bool):
        raise InvalidInput("section is required", code="invalid_section")
    record = records.deposit(
        vault(),
        db(),
        caller(),
        records.Deposit(
            client_id=client_id,
            section=section,
            title=parse.string(data, "title") or "",
            content=parse.content(data),
            year=parse.integer(data.get("year"), "year", required=False, lo=1900, hi=9999),
            doc_type=parse.string(data, "doc_type", required=False, max_len=64) or "",
            doc_date=parse.day(data.get("doc_date"), "doc_date"),
            valid_until=parse.day(data.get("valid_until"), "valid_until"),
            content_type=parse.string(data, "content_type", required=False, max_len=100)
            or "text/plain; charset=utf-8",
        ),
    )
    return jsonify(record_json(record)), 201


@route(bp, "/records/<int:record_id>", action=Action.RECORD_READ, summary="A record's card")
def get_record(record_id: int) -> Response:
    record = records.get_record(db(), record_id)
    body = record_json(record)
    body["attachments"] = [attachment_json(a) for a in records.attachments_of(db(), record_id)]
    return jsonify(body)


def _purpose() -> str | None:
    if request.method == "POST":
        return parse.string(parse.json_body(), "purpose", required=False, max_len=500)
    return request.args.get("purpose")


@route(
    bp,
    "/records/<int:record_id>/content",
    action=Action.RECORD_CONSULT,
    methods=["GET", "POST"],
    summary="Consult a record's content (audited; purpose required)",
    query=[("purpose", "string", "why you consult it (required)")],
    body={"purpose": "string"},
)
def consult(record_id: int) -> Response:
    got = access.consult(vault(), db(), caller(), record_id, _purpose())
    body: dict[str, Any] = {"record": record_json(got.record), "event_id": got.event_id}
    if got.record.content_type.startswith("text/"):
        try:
            body["content"] = got.data.decode("utf-8")
        except UnicodeDecodeError:
            body["content_base64"] = base64.b64encode(got.data).decode()
    else:
        body["content_base64"] = base64.b64encode(got.data).decode()
    return Response(_dumps(body), mimetype="application/json", headers=NO_STORE)


@route(
    bp,
    "/records/<int:record_id>/attachments",
    action=Action.RECORD_DEPOSIT,
    methods=["POST"],
    summary="Add a file to a record (multipart field 'file')",
)
def upload(record_id: int) -> tuple[Response, int]:
    file = request.files.get("file")
    if file is None:
        raise InvalidInput("send the file as multipart field 'file'", code="missing_file")
    att = records.attach(
        vault(),
        db(),
        caller(),
        record_id,
        filename=file.filename or "attachment",
        content_type=file.mimetype or "application/octet-stream",
        stream=file.stream,
    )
    return jsonify(attachment_json(att)), 201


@route(
    bp,
    "/records/<int:record_id>/attachments/<int:attachment_id>/content",
    action=Action.RECORD_CONSULT,
    summary="Consult an attachment (audited; purpose required)",
    query=[("purpose", "string", "why you consult it (required)")],
)
def consult_attachment(record_id: int, attachment_id: int) -> Response:
    got = access.consult_attachment(
        vault(), db(), caller(), record_id, attachment_id, request.args.get("purpose")
    )
    headers = dict(NO_STORE)
    headers["Content-Disposition"] = "inline"
    return Response(
        stream_with_context(got.chunks), mimetype=got.attachment.content_type, headers=headers
    )


@route(
    bp,
    "/audit/events",
    action=Action.AUDIT_READ,
    summary="Read the audit log (auditors)",
    query=[
        ("after_seq", "integer", "page after this sequence number"),
        ("action", "string", "action tag"),
        ("person_id", "integer", "actor"),
        ("record", "string", "record id"),
        ("client", "string", "client id"),
        ("decision", "string", "allow|deny|n/a"),
        ("limit", "integer", "page size"),
    ],
)
def audit_events() -> Response:
    limit, _ = parse.page(vault().config.page_size_max)
    args = request.args
    rows = query_events(
        db().connection(),
        after_seq=parse.integer(args.get("after_seq"), "after_seq", required=False, hi=2**62),
        limit=limit,
        action=args.get("action") or None,
        person_id=parse.integer(args.get("person_id"), "person_id", required=False),
        record=args.get("record") or None,
        client=args.get("client") or None,
        decision=args.get("decision") or None,
    )
    items = [{"seq": seq, **_event_json(ev)} for seq, ev in rows]
    return jsonify(items=items, limit=limit)


@route(bp, "/audit/verify", action=Action.AUDIT_VERIFY, summary="Verify the audit log's integrity")
def audit_verify() -> Response:
    report = vault().audit.verify(db().connection())
    return jsonify(
        ok=report.ok,
        events=report.events,
        sealed=report.sealed,
        unsealed=report.unsealed,
        checkpoints=report.checkpoints,
        first_bad_seq=report.first_bad_seq,
        first_bad_event_id=report.first_bad_event_id,
        problem=report.problem,
    )


def _event_json(ev: Any) -> dict[str, Any]:
    return {
        "id": ev.id,
        "time": ev.time.isoformat(),
        "action": ev.action,
        "actor": {
            "person_id": ev.actor.person_id,
            "subject": ev.actor.subject,
            "ip": ev.actor.ip,
            "user_agent": ev.actor.user_agent,
        },
        "decision": ev.decision,
        "outcome": ev.outcome,
        "reason": ev.reason,
        "resource": dict(ev.resource),
        "policy_ids": list(ev.policy_ids),
        "purpose": ev.purpose,
        "grant_id": ev.grant_id,
        "request_id": ev.request_id,
        "details": dict(ev.details),
    }


def _dumps(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body, ensure_ascii=False)
