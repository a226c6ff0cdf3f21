"""Every API route: an anonymous caller (401, in test_routes), a denied and an allowed one.

One table. A route added without a row here fails ``test_the_table_covers_every_api_route``,
so nobody can add an endpoint without saying who may use it and proving it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import Factory
from vault import uow
from vault.caller import Caller
from vault.models import ApiToken, Person
from vault.people import departures, directory

REASON = "renewing the payment terms with this client"


@dataclass
class World:
    """One of everything, with a person of each kind and their tokens."""

    ids: dict[str, int]
    tokens: dict[str, str]


def build(make: Factory, api, vault, db) -> World:
    employee, custodian = make.person(), make.custodian("general")
    auditor, admin = make.person(roles=("employee", "auditor")), make.admin()
    departed = make.person()
    client = make.client("general")
    record = make.record(client, by=employee)
    tokens = {
        k: make.token(p)
        for k, p in (
            ("employee", employee),
            ("custodian", custodian),
            ("auditor", auditor),
            ("admin", admin),
            ("departed", departed),
            ("admin2", make.second_admin()),
        )
    }
    att = api.client.post(
        f"/api/v1/records/{record.id}/attachments",
        headers={"Authorization": f"Bearer {tokens['employee']}"},
        data={"file": (io.BytesIO(b"scan"), "scan.txt", "text/plain")},
    ).json
    item = api.post(
        f"/records/{record.id}/items",
        tokens["custodian"],
        json={"kind": "folder", "label": "Folder", "location": "Shelf 1"},
    ).json
    req = api.post(
        "/access-requests", tokens["employee"], json={"record_id": record.id, "reason": REASON}
    ).json
    grant = make.grant(employee, record)
    note = api.get("/notifications", tokens["employee"]).json["items"][0]
    db.commit()  # end this session's read snapshot before writing (SQLite)
    uow.run(db, departures.set_departure, vault, db, Caller(person=admin), departed, date.today())
    proposal = uow.run(
        db,
        directory.propose_role,
        vault,
        db,
        Caller(person=admin),
        db.get(Person, employee.id),
        "auditor",
        reason="joins the audit team",
    )
    ids = {
        "client_id": client.id,
        "record_id": record.id,
        "attachment_id": att["id"],
        "item_id": item["id"],
        "request_id": req["id"],
        "grant_id": grant.id,
        "note_id": note["id"],
        "person_id": employee.id,
        "custodian_id": custodian.id,
        "proposal_id": proposal.id,
        "token_id": db.scalar(select(ApiToken.id).where(ApiToken.person_id == employee.id)),
    }
    return World(ids, tokens)


# (method, rule): (allowed caller, denied caller, JSON body or None, files or None)
ROUTES: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("POST", "/access-requests"): (
        "employee",
        "departed",
        {"record_id": "{record_id}", "reason": REASON},
    ),
    ("GET", "/access-requests"): ("employee", "departed", None),
    ("GET", "/access-requests/<int:request_id>"): ("employee", "departed", None),
    ("POST", "/access-requests/<int:request_id>/approve"): ("custodian", "employee", {}),
    ("POST", "/access-requests/<int:request_id>/deny"): ("custodian", "employee", {}),
    ("POST", "/access-requests/<int:request_id>/withdraw"): ("employee", "departed", None),
    ("GET", "/alerts"): ("auditor", "employee", None),
    ("GET", "/audit/events"): ("auditor", "employee", None),
    ("POST", "/audit/trace-copy"): ("auditor", "employee", "file"),
    ("GET", "/audit/verify"): ("auditor", "employee", None),
    ("GET", "/clients"): ("employee", "departed", None),
    ("POST", "/clients"): (
        "employee",
        "departed",
        {"code": "NEWCO", "name": "New Co", "tier": "general"},
    ),
    ("GET", "/clients/<int:client_id>"): ("employee", "departed", None),
    ("POST", "/clients/lookup"): ("custodian", "employee", {"tax_id": "91310000MA1FL0001X"}),
    ("POST", "/clients/<int:client_id>/review"): ("custodian", "employee", {"note": "ok"}),
    ("GET", "/grants"): ("employee", "departed", None),
    ("POST", "/grants/<int:grant_id>/revoke"): ("custodian", "employee", {}),
    ("GET", "/items/<int:item_id>"): ("custodian", "employee", None),
    ("POST", "/items/<int:item_id>/checkin"): ("custodian", "employee", {"pages": 1}),
    ("POST", "/items/<int:item_id>/checkout"): (
        "custodian",
        "employee",
        {"borrower": "{custodian_email}", "pages": 3, "purpose": "annual review"},
    ),
    ("POST", "/items/<int:item_id>/renew"): ("custodian", "employee", {}),
    ("GET", "/keys/status"): ("admin", "employee", None),
    ("GET", "/loans"): ("custodian", "employee", None),
    ("GET", "/me"): ("employee", "departed", None),
    ("GET", "/me/sessions"): ("employee", "departed", None),
    ("POST", "/me/sessions/end-all"): ("employee", "departed", None),
    ("GET", "/me/tokens"): ("employee", "departed", None),
    ("POST", "/me/tokens"): ("employee", "departed", {"label": "script"}),
    ("POST", "/me/tokens/<int:token_id>/revoke"): ("employee", "departed", None),
    ("GET", "/people/<int:person_id>/tokens"): ("admin", "employee", None),
    ("POST", "/people/<int:person_id>/sessions/revoke"): ("admin", "employee", None),
    ("POST", "/tokens/<int:token_id>/revoke"): ("admin", "employee", None),
    ("GET", "/notifications"): ("employee", "departed", None),
    ("POST", "/notifications/<int:note_id>/read"): ("employee", "departed", None),
    ("POST", "/people/<int:person_id>/departure"): (
        "admin",
        "employee",
        {"leaving_on": "{leaving_on}"},
    ),
    ("GET", "/people/<int:person_id>/departure-report"): ("auditor", "employee", None),
    ("POST", "/people/<int:person_id>/review/clear"): ("auditor", "employee", {"note": "ok"}),
    ("POST", "/people"): (
        "admin",
        "employee",
        {"email": "new@corp.test", "name": "New", "hired_on": "2015-01-01"},
    ),
    ("POST", "/people/<int:person_id>/designations"): (
        "admin",
        "employee",
        {"tiers": ["general"], "reason": REASON},
    ),
    ("POST", "/people/<int:person_id>/hire-date"): (
        "admin",
        "employee",
        {"hired_on": "2015-01-01", "reason": REASON},
    ),
    ("POST", "/people/<int:person_id>/roles"): (
        "admin",
        "employee",
        {"role": "admin", "reason": REASON},
    ),
    ("POST", "/people/<int:person_id>/departure/withdraw"): (
        "admin",
        "employee",
        {"reason": REASON},
    ),
    ("POST", "/people/<int:person_id>/departure/postpone"): (
        "admin",
        "employee",
        {"leaving_on": "{leaving_on}", "reason": REASON},
    ),
    ("GET", "/proposals"): ("admin", "employee", None),
    ("GET", "/proposals/<int:proposal_id>"): ("auditor", "employee", None),
    ("POST", "/proposals/<int:proposal_id>/approve"): ("admin2", "admin", {}),
    ("POST", "/proposals/<int:proposal_id>/reject"): ("admin2", "employee", {"note": "no"}),
    ("POST", "/proposals/<int:proposal_id>/withdraw"): ("admin", "employee", {}),
    ("GET", "/policy/explain"): ("auditor", "employee", None),
    ("GET", "/policy/site"): ("auditor", "employee", None),
    ("POST", "/policy/site"): ("admin", "auditor", {"text": "", "reason": "no site rules"}),
    ("POST", "/keys/retire"): ("admin", "auditor", {"key_id": "local-1", "reason": "old"}),
    ("GET", "/records"): ("employee", "departed", None),
    ("POST", "/records"): (
        "employee",
        "departed",
        {"client_id": "{client_id}", "section": "basic", "title": "Visit", "content": "notes"},
    ),
    ("GET", "/records/<int:record_id>"): ("employee", "departed", None),
    ("POST", "/records/<int:record_id>/attachments"): ("employee", "departed", "file"),
    ("GET", "/records/<int:record_id>/attachments/<int:attachment_id>/content"): (
        "custodian",
        "auditor",
        None,
    ),
    ("GET", "/records/<int:record_id>/content"): ("custodian", "auditor", None),
    ("POST", "/records/<int:record_id>/content"): (
        "custodian",
        "auditor",
        {"purpose": "annual review"},
    ),
    ("POST", "/records/<int:record_id>/copy"): (
        "custodian",
        "employee",
        {"purpose": "annual review"},
    ),
    ("POST", "/records/<int:record_id>/items"): (
        "custodian",
        "employee",
        {"kind": "folder", "label": "Another"},
    ),
    ("GET", "/reviews/due"): ("custodian", "employee", None),
    ("GET", "/reviews/stale-reports"): ("custodian", "employee", None),
    ("GET", "/stats"): ("auditor", "employee", None),
    ("GET", "/checks"): ("auditor", "employee", None),
    ("GET", "/checks/<int:run_id>"): ("auditor", "employee", None),
    ("GET", "/registers/loans"): ("auditor", "employee", None),
    ("GET", "/registers/uses"): ("custodian", "employee", None),
    ("GET", "/portfolio"): ("auditor", "employee", None),
    ("GET", "/clients/<int:client_id>/dossier"): ("custodian", "employee", None),
    ("GET", "/stats/charts/<name>.svg"): ("auditor", "employee", None),
    # Appraisal: batches and holds that do not exist (404 once allowed).
    ("GET", "/retention/schedule"): ("auditor", "employee", None),
    ("POST", "/retention/schedule"): ("admin", "employee", {"text": "rules = [", "reason": REASON}),
    ("GET", "/records/<int:record_id>/retention"): ("employee", "departed", None),
    ("POST", "/clients/<int:client_id>/relationship-end"): (
        "custodian",
        "employee",
        {"ended_on": "2020-01-01"},
    ),
    ("GET", "/holds"): ("auditor", "employee", None),
    ("POST", "/holds"): ("custodian", "employee", {"client_id": "{client_id}", "reason": REASON}),
    ("POST", "/holds/<int:hold_id>/lift"): ("admin", "employee", {"reason": REASON}),
    ("GET", "/disposal/due"): ("custodian", "employee", None),
    ("GET", "/disposal/batches"): ("auditor", "employee", None),
    ("POST", "/disposal/batches"): ("custodian", "employee", {"record_ids": [1], "reason": REASON}),
    ("GET", "/disposal/batches/<int:batch_id>"): ("auditor", "employee", None),
    ("POST", "/disposal/batches/<int:batch_id>/approve"): ("admin", "employee", {}),
    ("POST", "/disposal/batches/<int:batch_id>/countersign"): ("custodian", "employee", {}),
    ("POST", "/disposal/batches/<int:batch_id>/reject"): ("admin", "employee", {"note": "no"}),
    ("GET", "/disposal/batches/<int:batch_id>/certificate"): ("auditor", "employee", None),
}
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/openapi.json")}
# Refused to every bearer token, the allowed caller's included: a token never mints
# another (the signed-in browser's case is in test_own_tokens.py).
BROWSER_ONLY = {("POST", "/me/tokens")}
QUERY = {
    "/policy/explain": "?person_id={person_id}&action=record:consult&record_id={record_id}",
    "/records/<int:record_id>/content": "?purpose=annual+review",
    "/records/<int:record_id>/attachments/<int:attachment_id>/content": "?purpose=annual+review",
}
PATH_VALUES = {"name": "holdings_by_tier", "run_id": 999, "hold_id": 999999, "batch_id": 999999}


def test_the_table_covers_every_api_route(app):
    declared = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                declared.add((method, rule.rule.removeprefix("/api/v1")))
    assert declared == set(ROUTES) | PUBLIC


def _fill(text: str, w: World, extra: dict[str, str]) -> str:
    values = {**{k: str(v) for k, v in w.ids.items()}, **extra}
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _call(api, method: str, rule: str, body: Any, token: str, w: World, extra: dict[str, str]):
    path = rule
    for key, value in {**w.ids, **PATH_VALUES}.items():
        path = path.replace(f"<int:{key}>", str(value)).replace(f"<{key}>", str(value))
    path = _fill(path + QUERY.get(rule, ""), w, extra)
    headers = {"Authorization": f"Bearer {token}"}
    if body == "file":
        return api.client.post(
            f"/api/v1{path}",
            headers=headers,
            data={"file": (io.BytesIO(b"plain text"), "f.txt", "text/plain")},
        )
    if body is None:
        return api.client.open(f"/api/v1{path}", method=method, headers=headers)
    import json

    payload = json.loads(_fill(json.dumps(body), w, extra))
    for key, value in payload.items():
        if isinstance(value, str) and value.isdigit() and key.endswith("_id"):
            payload[key] = int(value)
    return api.client.open(f"/api/v1{path}", method=method, headers=headers, json=payload)


def _extra(w: World, db) -> dict[str, str]:
    return {
        "leaving_on": (date.today() + timedelta(days=30)).isoformat(),
        "custodian_email": db.get(Person, w.ids["custodian_id"]).email,
    }


def _check(api, method: str, rule: str, w: World, extra: dict[str, str]) -> str | None:
    """Call ``rule`` as its denied caller, then its allowed one; what went wrong, or None."""
    allowed, denied, body = ROUTES[(method, rule)]
    no = _call(api, method, rule, body, w.tokens[denied], w, extra)
    if no.status_code != 403 or no.mimetype != "application/problem+json":
        return f"{method} {rule} as {denied}: {no.status_code} {no.data[:200]!r}"
    yes = _call(api, method, rule, body, w.tokens[allowed], w, extra)
    if (method, rule) in BROWSER_ONLY:
        if yes.status_code == 403 and yes.json["code"] == "browser_session_required":
            return None
        return f"{method} {rule} as {allowed}: {yes.status_code}, not browser_session_required"
    if yes.status_code in (401, 403) or yes.status_code >= 500:
        return f"{method} {rule} as {allowed}: {yes.status_code} {yes.data[:300]!r}"
    return None


WRITES = sorted(key for key in ROUTES if key[0] != "GET")
READS = sorted(key for key in ROUTES if key[0] == "GET")


@pytest.mark.parametrize(("method", "rule"), WRITES, ids=lambda x: x)
def test_denied_and_allowed(method, rule, api, make: Factory, vault, db):
    """An act changes the world, so each one gets a world of its own."""
    w = build(make, api, vault, db)
    wrong = _check(api, method, rule, w, _extra(w, db))
    assert wrong is None, wrong


def test_reads_denied_and_allowed(api, make: Factory, vault, db):
    """Reading changes nothing a later read depends on: every GET route in one world."""
    w = build(make, api, vault, db)
    extra = _extra(w, db)
    wrong = [m for method, rule in READS if (m := _check(api, method, rule, w, extra))]
    assert not wrong, "\n".join(wrong)
