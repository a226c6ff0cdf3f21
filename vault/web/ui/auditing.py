"""The auditor's pages: the audit log with filters, one event, verification, CSV export.

Auditors read the log, never content: events carry ids, decisions and purposes only.
The CSV export is of the log itself; each export is recorded in the log, with its
filters, before the first row leaves.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, render_template, request, stream_with_context

from audit import Event, query_events
from vault import auditing, csvout
from vault.archive import records as records_
from vault.db import utcnow
from vault.errors import InvalidInput, NotFound, VaultError
from vault.models import Person
from vault.people import directory
from vault.policy import Action
from vault.web.api import parse
from vault.web.context import caller, db, refused, vault
from vault.web.routing import route
from vault.web.ui.blueprint import bp

PAGE_SIZE = 50
EXPORT_BATCH = 500
DECISION_VALUES = ("allow", "deny", "n/a")
CSV_COLUMNS = (
    "seq",
    "id",
    "time",
    "action",
    "decision",
    "outcome",
    "reason",
    "person_id",
    "subject",
    "ip",
    "user_agent",
    "resource",
    "purpose",
    "grant_id",
    "request_id",
    "policy_ids",
    "details",
)


@dataclass(frozen=True)
class Filters:
    """The audit log filters of one request, parsed and checked."""

    person_id: int | None = None
    client: str | None = None
    record: str | None = None
    action: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> dict[str, Any]:
        """Keyword arguments for :func:`audit.query_events`."""
        return {
            "person_id": self.person_id,
            "client": self.client,
            "record": self.record,
            "action": self.action,
            "decision": self.decision,
            "since": self.since,
            "until": self.until,
        }

    def details(self) -> dict[str, str | int | bool | None]:
        """The filters, for the export's own audit event."""
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.query().items()
            if v is not None
        }


def _moment(value: str | None, name: str) -> datetime | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (UTC)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip()[:32])
    except ValueError:
        raise InvalidInput(f"{name} must be YYYY-MM-DD", code=f"invalid_{name}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _by_number_or_name(value: str | None, name: str) -> int | None:
    """A client by number or code, a record by number or file number."""
    text = (value or "").strip()[:64]
    if not text or text.isdigit():
        return parse.integer(text or None, name, required=False)
    found = (
        records_.client_by_code(db(), text)
        if name == "client"
        else records_.record_by_file_number(db(), text)
    )
    if found is None:
        raise InvalidInput(f"no such {name}", code=f"invalid_{name}")
    return found.id


def parse_filters(args: Any) -> Filters:
    """Filters from the query string; a bad value raises InvalidInput with a stable code."""
    who = (args.get("person") or "").strip()[:254]
    person_id = None
    if who.isdigit():
        person_id = int(who)
    elif who:
        try:
            person_id = directory.get_by_email(db(), who).id
        except NotFound:
            raise InvalidInput("no person with that e-mail", code="invalid_person") from None
    action = args.get("action") or None
    if action is not None and action not in {a.value for a in Action}:
        raise InvalidInput("unknown action", code="invalid_action")
    decision = args.get("decision") or None
    if decision is not None and decision not in DECISION_VALUES:
        raise InvalidInput("unknown decision", code="invalid_decision")
    record = _by_number_or_name(args.get("record"), "record")
    client = _by_number_or_name(args.get("client"), "client")
    return Filters(
        person_id=person_id,
        client=str(client) if client is not None else None,
        record=str(record) if record is not None else None,
        action=action,
        decision=decision,
        since=_moment(args.get("since"), "since"),
        until=_moment(args.get("until"), "until"),
    )


ORDERS = ("newest", "oldest")


@dataclass(frozen=True)
class Names:
    """What the ids in some events stand for: people's names, client codes, file numbers."""

    people: dict[int, Person]
    clients: dict[int, str]
    records: dict[int, str]

    def person(self, person_id: object) -> str | None:
        found = self.people.get(_int(person_id) or 0)
        return f"{found.name} · {found.email}" if found else None

    def about(self, key: str, value: str) -> str:
        """One resource of an event in words: a client's code, a record's file number, a name."""
        number = _int(value)
        named = None
        if number is not None:
            if key == "client":
                named = self.clients.get(number)
            elif key == "record":
                named = self.records.get(number)
            elif key == "person":
                named = self.person(number)
        return named or f"#{value}"


def _int(value: object) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() and len(text) < 19 else None


def names_of(events: list[Event]) -> Names:
    """Look the ids of ``events`` up, three queries in all."""
    people: set[int] = set()
    clients: set[int] = set()
    records: set[int] = set()
    for ev in events:
        if ev.actor.person_id:
            people.add(ev.actor.person_id)
        for key, value in ev.resource.items():
            number = _int(value)
            if number is None:
                continue
            {"person": people, "client": clients, "record": records}.get(key, set()).add(number)
    session = db()
    return Names(
        people=directory.names_of(session, people),
        clients=records_.client_codes(session, clients),
        records=records_.file_numbers(session, records),
    )


@route(bp, "/audit", action=Action.AUDIT_READ, summary="The audit log, with filters")
def audit_log() -> tuple[str, int]:
    rows: list[tuple[int, Event]] = []
    error: VaultError | None = None
    order = request.args.get("order") if request.args.get("order") in ORDERS else "newest"
    try:
        filters = parse_filters(request.args)
        after = parse.integer(request.args.get("after"), "after", required=False, hi=2**62)
        before = parse.integer(request.args.get("before"), "before", required=False, hi=2**62)
        rows = query_events(
            db().connection(),
            after_seq=after,
            before_seq=before,
            newest_first=order == "newest",
            limit=PAGE_SIZE + 1,
            **filters.query(),
        )
    except VaultError as exc:
        refused(exc)
        error = exc
    shown = rows[:PAGE_SIZE]
    more = len(rows) > PAGE_SIZE
    # The next page keeps every filter and the order; only the cursor changes.
    cursor: dict[str, int | None] = {"after": None, "before": None}
    if more:
        cursor["before" if order == "newest" else "after"] = shown[-1][0]
    return render_template(
        "audit/log.html",
        rows=shown,
        more=more,
        next_page=cursor,
        args=request.args,
        order=order,
        orders=ORDERS,
        names=names_of([ev for _seq, ev in shown]),
        actions=sorted(a.value for a in Action),
        error=error,
        decisions=DECISION_VALUES,
    ), (error.status if error else 200)


@route(bp, "/audit/events/<int:seq>", action=Action.AUDIT_READ, summary="One audit event")
def audit_event(seq: int) -> str:
    conn = db().connection()
    rows = query_events(conn, after_seq=seq - 1, limit=1)
    if not rows or rows[0][0] != seq:
        raise NotFound("no such event", code="event_not_found")
    event = rows[0][1]
    return render_template(
        "audit/event.html",
        seq=seq,
        event=event,
        check=vault().audit.inspect(conn, seq),
        names=names_of([event]),
    )


@route(
    bp,
    "/audit/verify",
    action=Action.AUDIT_VERIFY,
    summary="Verify the audit log (MACs, hash chain, signed checkpoints)",
)
def audit_verify() -> str:
    report = vault().audit.verify(db().connection(), witness=vault().audit.witness)
    return render_template("audit/verify.html", report=report)


def _csv_row(seq: int, ev: Event) -> list[object]:
    return list(
        (
            seq,
            ev.id,
            ev.time.isoformat(),
            ev.action,
            ev.decision,
            ev.outcome,
            ev.reason,
            ev.actor.person_id,
            ev.actor.subject,
            ev.actor.ip,
            ev.actor.user_agent,
            json.dumps(dict(ev.resource), ensure_ascii=False, sort_keys=True),
            ev.purpose,
            ev.grant_id,
            ev.request_id,
            " ".join(ev.policy_ids),
            json.dumps(dict(ev.details), ensure_ascii=False, sort_keys=True),
        )
    )


@route(
    bp,
    "/audit/export.csv",
    action=Action.AUDIT_EXPORT,
    summary="Export the audit log (never content) as CSV, with the same filters",
)
def audit_export() -> Response:
    filters = parse_filters(request.args)
    session = db()
    auditing.record(vault(), session, caller(), Action.AUDIT_EXPORT, details=filters.details())
    engine = vault().engine

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        out = csvout.writer(buf)
        out.writerow(CSV_COLUMNS)
        yield "\ufeff" + buf.getvalue()  # a BOM, so spreadsheets read the Chinese correctly
        after = None
        with engine.connect() as conn:
            while True:
                batch = query_events(conn, after_seq=after, limit=EXPORT_BATCH, **filters.query())
                if not batch:
                    return
                buf.seek(0)
                buf.truncate()
                for seq, ev in batch:
                    out.writerow(_csv_row(seq, ev))
                yield buf.getvalue()
                after = batch[-1][0]

    name = f"audit-log-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
