"""What the input-hardening tests share: a small vault with one person of each role and a
row of each kind, the operations of the served OpenAPI document (read at run time, so a
route added tomorrow is fuzzed tomorrow), and a digest of the domain tables that shows a
refused request changed nothing."""

from __future__ import annotations

import hashlib
import io
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import Factory

ROLES = ("admin", "auditor", "custodian", "employee")
REASON = "renewing the payment terms with this client"
# The audit log is compared on its own (only refusals may be added to it); the chain and
# its checkpoints follow the log.
NOT_DOMAIN = {"audit_events", "audit_chain", "audit_checkpoints", "alembic_version"}
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass
class World:
    """One person per role (with a token), and one row of each kind they can name."""

    tokens: dict[str, str]
    ids: dict[str, Any]
    emails: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def world(make: Factory, client: FlaskClient) -> World:
    """Build the vault every hostile request is thrown at."""
    people = {
        "admin": make.admin(),
        "auditor": make.person(roles=("employee", "auditor")),
        "custodian": make.custodian(),
        "employee": make.person(),
    }
    tokens = {role: make.token(p) for role, p in people.items()}
    customer = make.client("general")
    record = make.record(customer, by=people["employee"])
    make.grant(people["employee"], record)
    grant_id = make.db.execute(sa.text("SELECT max(id) FROM grants")).scalar_one()
    api = "/api/v1"
    custodian = {"Authorization": f"Bearer {tokens['custodian']}"}
    item = client.post(
        f"{api}/records/{record.id}/items",
        headers=custodian,
        json={"kind": "folder", "label": "Folder", "location": "Shelf 1"},
    ).json
    pending = client.post(
        f"{api}/access-requests",
        headers={"Authorization": f"Bearer {tokens['employee']}"},
        json={"record_id": record.id, "reason": REASON},
    ).json
    attachment = client.post(
        f"{api}/records/{record.id}/attachments",
        headers={"Authorization": f"Bearer {tokens['employee']}"},
        data={"file": (io.BytesIO(b"attached terms"), "terms.txt")},
    ).json
    note_id = make.db.execute(sa.text("SELECT max(id) FROM notifications")).scalar_one()
    proposal_id = make.db.execute(sa.text("SELECT max(id) FROM proposals")).scalar_one()
    token_id = make.db.execute(sa.text("SELECT max(id) FROM api_tokens")).scalar_one()
    chart = client.get(f"{api}/stats/charts/none.svg", headers=custodian).json or {}
    make.db.rollback()
    ids = {
        "client_id": customer.id,
        "record_id": record.id,
        "item_id": item["id"],
        "request_id": pending["id"],
        "grant_id": grant_id,
        "person_id": people["employee"].id,
        "attachment_id": attachment["id"],
        "note_id": note_id or 1,
        "proposal_id": proposal_id or 1,
        "token_id": token_id or 1,
        "name": (chart.get("charts") or "decisions").split(",")[0],
        # Appraisal: no batch or hold exists (input is refused before the id is looked up).
        "batch_id": 1,
        "hold_id": 1,
    }
    return World(tokens, ids, {role: p.email for role, p in people.items()})


@dataclass(frozen=True)
class Operation:
    """One operation of the served document."""

    method: str
    path: str
    op: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    def params(self, where: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.op.get("parameters", []) if p["in"] == where}

    def url(self, ids: dict[str, Any], **override: Any) -> str:
        values = {**ids, **override}
        return "/api/v1" + _PATH_PARAM.sub(lambda m: str(values[m.group(1)]), self.path)

    def body_schema(self, doc: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The media type and the resolved schema of the request body, if any."""
        body = self.op.get("requestBody")
        if body is None:
            return None
        media, entry = next(iter(body["content"].items()))
        return media, resolve(doc, entry["schema"])


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return schema if ref is None else doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def operations(doc: dict[str, Any]) -> Iterator[Operation]:
    """Every operation the document describes."""
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield Operation(method, path, op)


def kinds(doc: dict[str, Any], prop: dict[str, Any]) -> set[str]:
    """The JSON types a property (or an ``anyOf`` of them) accepts."""
    prop = resolve(doc, prop)
    if "anyOf" in prop:
        return set().union(*(kinds(doc, option) for option in prop["anyOf"]))
    if "enum" in prop:
        return {"string"} if all(isinstance(x, str) for x in prop["enum"]) else {"enum"}
    kind = prop.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


# ---- Nothing changed -------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, str]
    last_event: int


_TABLES: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def _domain_tables(bind: Any) -> list[str]:
    """The domain tables, found once per engine (a catalogue query costs a round trip)."""
    if bind not in _TABLES:
        _TABLES[bind] = sorted(set(sa.inspect(bind).get_table_names()) - NOT_DOMAIN)
    return _TABLES[bind]


def snapshot(db: Session) -> Snapshot:
    """A digest of every domain table (found at run time) and the audit log's last seq."""
    db.rollback()  # a fresh snapshot
    names = _domain_tables(db.get_bind())
    tables = {}
    for name in names:
        rows = sorted(repr(tuple(row)) for row in db.execute(sa.text(f'SELECT * FROM "{name}"')))
        tables[name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    last = db.execute(sa.text("SELECT coalesce(max(seq), 0) FROM audit_events")).scalar_one()
    db.rollback()
    return Snapshot(tables, int(last))


def changes(db: Session, before: Snapshot) -> list[str]:
    """What changed since ``before``: domain tables, and audit events other than refusals."""
    after = snapshot(db)
    changed = [t for t in after.tables if after.tables[t] != before.tables.get(t)]
    allowed = db.execute(
        sa.text(
            "SELECT action, decision, outcome FROM audit_events "
            "WHERE seq > :seq AND decision = 'allow' AND outcome = 'ok'"
        ),
        {"seq": before.last_event},
    ).all()
    db.rollback()
    return changed + [f"audit: {tuple(row)}" for row in allowed]


def last_event(db: Session) -> int:
    """The audit log's last seq."""
    last = db.execute(sa.text("SELECT coalesce(max(seq), 0) FROM audit_events")).scalar_one()
    db.rollback()
    return int(last)


def new_events(db: Session, since: int) -> list[tuple[Any, ...]]:
    """The audit events written after seq ``since`` (action, decision, outcome)."""
    rows = db.execute(
        sa.text("SELECT action, decision, outcome FROM audit_events WHERE seq > :seq ORDER BY seq"),
        {"seq": since},
    ).all()
    db.rollback()
    return [tuple(row) for row in rows]


def is_problem(resp: Any) -> bool:
    """A 4xx answered as problem+json with a stable code."""
    body = resp.get_json(silent=True) if hasattr(resp, "get_json") else None
    return (
        400 <= resp.status_code < 500
        and resp.mimetype == "application/problem+json"
        and isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and bool(body["code"])
    )
