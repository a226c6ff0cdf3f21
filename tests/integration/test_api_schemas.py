"""The API's typed schemas: the OpenAPI document is generated from the models that parse
each request, so what it documents (fields, limits, media types) is what is enforced;
and one input layer refuses hostile input with a 4xx and a stable code, changing nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import Factory
from tests.integration.hostile import changes, snapshot
from vault.config import TIERS
from vault.custody.loans import ITEM_KINDS
from vault.models import Section
from vault.web.api.items import NewItem

REASON = "renewing the payment terms with this client"
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def doc(api) -> dict[str, Any]:
    return api.get("/openapi.json").json


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _operations(doc: dict[str, Any]):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_every_operation_has_its_request_and_response_schemas(app, doc):
    from openapi_spec_validator import validate

    validate(doc)
    for path, method, op in _operations(doc):
        where = (method, path)
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert ok, where
        for status in ok:
            content = op["responses"][status].get("content")
            assert content, (where, status)
            for media, entry in content.items():
                schema = entry["schema"]
                if media == "application/json":
                    assert "$ref" in schema, (where, status)
                    assert _resolve(doc, schema)["type"] == "object"
                else:
                    assert schema == {"type": "string", "contentMediaType": media}
        for status in ("400", "401", "403", "404", "default"):
            if status in op["responses"]:
                problem = op["responses"][status]["content"]["application/problem+json"]
                assert problem["schema"]["$ref"] == PROBLEM_REF
        assert "default" in op["responses"]
        if op["security"]:
            assert {"401", "403"} <= set(op["responses"]), where
        if "{" in path:
            assert "404" in op["responses"], where
        if method == "post" and "requestBody" in op:
            for entry in op["requestBody"]["content"].values():
                body = _resolve(doc, entry["schema"])
                assert body["type"] == "object" and body["properties"], where
    problem = doc["components"]["schemas"]["Problem"]
    assert "code" in problem["required"] and problem["properties"]["code"]["type"] == "string"
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    # Every POST route with input declares a body model; the GET routes with filters, a query.
    posts_without_body = {
        path
        for path, method, op in _operations(doc)
        if method == "post" and "requestBody" not in op
    }
    assert posts_without_body == {
        "/access-requests/{request_id}/withdraw",
        "/clients/{client_id}/review",
        "/notifications/{note_id}/read",
        "/me/sessions/end-all",
        "/me/tokens/{token_id}/revoke",
        "/people/{person_id}/sessions/revoke",
        "/tokens/{token_id}/revoke",
    }
    records = doc["paths"]["/records"]["get"]
    assert {p["name"] for p in records["parameters"]} >= {"limit", "offset", "client_id", "q"}


def test_required_fields_and_limits_are_documented(doc):
    schemas = doc["components"]["schemas"]
    deposit = schemas["DepositBody"]
    assert set(deposit["required"]) == {"client_id", "section", "title"}
    assert deposit["properties"]["title"]["maxLength"] == 300
    assert deposit["properties"]["client_id"]["maximum"] == 2**31 - 1
    assert set(deposit["properties"]["section"]["enum"]) == {s.name.lower() for s in Section}
    assert tuple(schemas["NewClient"]["properties"]["tier"]["enum"]) == TIERS
    assert set(NewItem.model_json_schema()["properties"]["kind"]["enum"]) == set(ITEM_KINDS)
    renew = doc["paths"]["/items/{item_id}/renew"]["post"]["requestBody"]
    assert renew["required"] is False
    checkout = doc["paths"]["/items/{item_id}/checkout"]["post"]["requestBody"]
    assert checkout["required"] is True


def test_the_copy_route_documents_its_binary_media_types(doc):
    ok = doc["paths"]["/records/{record_id}/copy"]["post"]["responses"]["200"]["content"]
    assert {"application/pdf", "image/png", "image/jpeg", "text/plain"} <= set(ok)
    assert "application/json" not in ok
    report = doc["paths"]["/people/{person_id}/departure-report"]["get"]["responses"]["200"]
    assert set(report["content"]) == {"application/json", "text/csv"}
    upload = doc["paths"]["/records/{record_id}/attachments"]["post"]["requestBody"]
    form = _resolve(doc, upload["content"]["multipart/form-data"]["schema"])
    assert form["properties"]["file"]["format"] == "binary"


def _limit(doc: dict[str, Any], model: str, field: str, key: str) -> int:
    prop = doc["components"]["schemas"][model]["properties"][field]
    for option in prop.get("anyOf", [prop]):
        if key in option:
            return int(option[key])
    raise AssertionError(f"{model}.{field} documents no {key}")


def test_a_documented_limit_is_the_enforced_one(api, make: Factory, db, doc):
    employee, custodian = make.person(), make.custodian("general")
    client = make.client("general")
    record = make.record(client, by=employee)
    e_token, c_token = make.token(employee), make.token(custodian)

    title = _limit(doc, "DepositBody", "title", "maxLength")
    deposit = {"client_id": client.id, "section": "basic", "content": "x"}
    too_long = api.post("/records", e_token, json={**deposit, "title": "t" * (title + 1)})
    assert too_long.status_code == 400 and too_long.json["code"] == "invalid_title"
    name = _limit(doc, "NewClient", "name", "maxLength")
    resp = api.post(
        "/clients", e_token, json={"code": "ACME", "name": "n" * (name + 1), "tier": "core"}
    )
    assert resp.status_code == 400 and resp.json["code"] == "invalid_name"
    reason = _limit(doc, "AccessRequestBody", "reason", "maxLength")
    resp = api.post(
        "/access-requests", e_token, json={"record_id": record.id, "reason": "r" * (reason + 1)}
    )
    assert resp.status_code == 400 and resp.json["code"] == "invalid_reason"
    item = api.post(
        f"/records/{record.id}/items",
        c_token,
        json={"kind": "folder", "label": "Folder", "location": "Shelf 1"},
    ).json
    before = _counts(db)
    pages = _limit(doc, "CheckoutBody", "pages", "maximum")
    resp = api.post(
        f"/items/{item['id']}/checkout",
        c_token,
        json={"borrower": custodian.email, "pages": pages + 1},
    )
    assert resp.status_code == 400 and resp.json["code"] == "invalid_pages"
    limit = _limit(doc, "DepositBody", "year", "minimum")
    resp = api.post("/records", e_token, json={**deposit, "title": "t", "year": limit - 1})
    assert resp.status_code == 400 and resp.json["code"] == "invalid_year"
    assert _counts(db) == before

    at_limit = api.post("/records", e_token, json={**deposit, "title": "t" * title})
    assert at_limit.status_code == 201, at_limit.json


def test_a_post_with_no_input_needs_no_body(api, make: Factory, db):
    """No body and no Content-Type is no fields, not invalid_json."""
    custodian = make.custodian("general")
    record = make.record(make.client("general"))
    token = make.token(custodian)
    item = api.post(
        f"/records/{record.id}/items",
        token,
        json={"kind": "folder", "label": "Folder", "location": "Shelf 1"},
    ).json
    out = api.post(
        f"/items/{item['id']}/checkout",
        token,
        json={"borrower": custodian.email, "pages": 3, "purpose": "annual review"},
    )
    assert out.status_code == 201, out.json
    headers = {"Authorization": f"Bearer {token}"}
    renewed = api.client.post(f"/api/v1/items/{item['id']}/renew", headers=headers)
    assert renewed.status_code == 200, renewed.json
    assert renewed.json["renewals"] == 1
    copy = api.client.post(f"/api/v1/records/{record.id}/copy", headers=headers)
    assert copy.status_code == 400 and copy.json["code"] == "purpose_required"


# ---- Hostile input ---------------------------------------------------------------------

TABLES = ("records", "clients", "access_requests", "items", "loans", "audit_events")


def _counts(db) -> dict[str, int]:
    db.rollback()  # a fresh snapshot
    return {t: db.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


DEPOSIT = {"client_id": "{client_id}", "section": "basic", "title": "t", "content": "x"}
ASK = {"record_id": "{record_id}", "reason": REASON}
CHECKOUT = {"borrower": "{custodian_email}", "pages": 3, "purpose": "annual review"}
NUL, SURROGATE = "a\x00b", "a\ud800b"

# (method, path, caller, body: dict / raw str / None, status, code)
HOSTILE: list[tuple[str, str, str, Any, int, str]] = [
    ("POST", "/records", "employee", {**DEPOSIT, "title": NUL}, 400, "invalid_title"),
    ("POST", "/records", "employee", {**DEPOSIT, "title": SURROGATE}, 400, "invalid_title"),
    ("POST", "/records", "employee", {**DEPOSIT, "content": SURROGATE}, 400, "invalid_content"),
    ("POST", "/records", "employee", {**DEPOSIT, "client_id": "3"}, 400, "invalid_client_id"),
    ("POST", "/records", "employee", {**DEPOSIT, "client_id": 10.5}, 400, "invalid_client_id"),
    ("POST", "/records", "employee", {**DEPOSIT, "client_id": 2**63}, 400, "invalid_client_id"),
    ("POST", "/records", "employee", {**DEPOSIT, "client_id": -1}, 400, "invalid_client_id"),
    ("POST", "/records", "employee", {**DEPOSIT, "client_id": True}, 400, "invalid_client_id"),
    ("POST", "/records", "employee", {**DEPOSIT, "year": 2026.0}, 400, "invalid_year"),
    (
        "POST",
        "/records",
        "employee",
        '{"client_id": 1e400, "section": "basic"}',
        400,
        "invalid_client_id",
    ),
    ("POST", "/records", "employee", '{"client_id": NaN}', 400, "invalid_json"),
    ("POST", "/records", "employee", '{"client_id": Infinity}', 400, "invalid_json"),
    ("POST", "/records", "employee", '{"title": ' + "[" * 20 + "]" * 20 + "}", 400, "invalid_json"),
    ("POST", "/records", "employee", "[" * 100_000 + "]" * 100_000, 400, "invalid_json"),
    ("POST", "/records", "employee", '"just a string"', 400, "invalid_json"),
    ("POST", "/records", "employee", b'{"title": "\xff"}', 400, "invalid_json"),
    ("POST", "/records", "employee", {**DEPOSIT, "section": ["basic"]}, 400, "invalid_section"),
    (
        "POST",
        "/clients",
        "employee",
        {"code": "OK", "name": NUL, "tier": "core"},
        400,
        "invalid_name",
    ),
    (
        "POST",
        "/clients",
        "employee",
        {"code": "OK", "name": "n", "tier": {"a": 1}},
        400,
        "invalid_tier",
    ),
    (
        "POST",
        "/access-requests",
        "employee",
        {**ASK, "record_id": "{record_id}.5"},
        400,
        "invalid_record_id",
    ),
    (
        "POST",
        "/access-requests",
        "employee",
        {**ASK, "actions": ["consult", NUL]},
        400,
        "invalid_actions",
    ),
    ("POST", "/access-requests", "employee", {**ASK, "actions": "consult"}, 400, "invalid_actions"),
    (
        "POST",
        "/access-requests",
        "employee",
        {**ASK, "duration_hours": 1e300},
        400,
        "invalid_duration_hours",
    ),
    ("POST", "/access-requests", "employee", {**ASK, "reason": SURROGATE}, 400, "invalid_reason"),
    (
        "POST",
        "/items/{item_id}/checkout",
        "custodian",
        {**CHECKOUT, "pages": "3"},
        400,
        "invalid_pages",
    ),
    (
        "POST",
        "/items/{item_id}/checkout",
        "custodian",
        {**CHECKOUT, "pages": -1},
        400,
        "invalid_pages",
    ),
    (
        "POST",
        "/items/{item_id}/checkout",
        "custodian",
        '{"borrower": "x@y.z", "pages": 1e400}',
        400,
        "invalid_pages",
    ),
    (
        "POST",
        "/items/{item_id}/checkout",
        "custodian",
        {**CHECKOUT, "borrower": NUL},
        400,
        "invalid_borrower",
    ),
    ("POST", "/items/{item_id}/renew", "custodian", '{"days": 1e400}', 400, "invalid_days"),
    (
        "POST",
        "/people/{person_id}/departure",
        "admin",
        {"leaving_on": 20270101},
        400,
        "invalid_leaving_on",
    ),
    ("POST", "/people/{person_id}/departure", "admin", {}, 400, "missing_leaving_on"),
    ("GET", "/records?limit=1e400", "employee", None, 400, "invalid_limit"),
    ("GET", "/records?limit=10.5", "employee", None, 400, "invalid_limit"),
    ("GET", "/records?limit=100000", "employee", None, 400, "page_too_large"),
    ("GET", "/records?client_id=99999999999999999999", "employee", None, 400, "invalid_client_id"),
    ("GET", "/records?q=a%00b", "employee", None, 400, "invalid_q"),
    ("GET", "/clients?tier=%00", "employee", None, 400, "invalid_tier"),
    ("GET", "/audit/events?after_seq=-1", "auditor", None, 400, "invalid_after_seq"),
    ("GET", "/policy/explain?person_id=1&action=nope", "auditor", None, 400, "invalid_action"),
    ("GET", f"/records/{2**63}", "employee", None, 404, "record_not_found"),
    ("GET", f"/records/{2**31}", "employee", None, 404, "record_not_found"),
    ("GET", f"/records/{2**31 - 1}", "employee", None, 404, "record_not_found"),
    ("GET", f"/clients/{2**64}", "employee", None, 404, "client_not_found"),
    ("GET", f"/records/{2**63}/content?purpose=review", "custodian", None, 404, "record_not_found"),
    ("POST", f"/items/{2**63}/renew", "custodian", None, 404, "item_not_found"),
    ("GET", f"/access-requests/{2**40}", "employee", None, 404, "request_not_found"),
    ("POST", f"/grants/{2**31}/revoke", "custodian", None, 404, "grant_not_found"),
    (
        "POST",
        f"/people/{2**63}/departure",
        "admin",
        {"leaving_on": "2027-01-01"},
        404,
        "person_not_found",
    ),
]


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return values.get(value[1:-1], value)
    if isinstance(value, str) and value.endswith(".5") and value[:-2].startswith("{"):
        return values[value[1:-3]] + 0.5
    return value


@pytest.mark.parametrize(
    ("method", "path", "who", "body", "status", "code"),
    HOSTILE,
    ids=[f"{m} {p[:40]} {c}" for m, p, _, _, _, c in HOSTILE],
)
def test_hostile_input_is_refused_and_changes_nothing(
    api, make: Factory, db, method, path, who, body, status, code
):
    custodian = make.custodian("general")
    people = {
        "employee": make.person(),
        "custodian": custodian,
        "auditor": make.person(roles=("employee", "auditor")),
        "admin": make.admin(),
    }
    client = make.client("general")
    record = make.record(client, by=people["employee"])
    token = make.token(people[who])
    item = api.post(
        f"/records/{record.id}/items",
        make.token(custodian),
        json={"kind": "folder", "label": "Folder", "location": "Shelf 1"},
    ).json
    if "renew" in path:
        api.post(
            f"/items/{item['id']}/checkout",
            make.token(custodian),
            json=CHECKOUT | {"borrower": custodian.email},
        )
    values = {
        "client_id": client.id,
        "record_id": record.id,
        "item_id": item["id"],
        "person_id": people["employee"].id,
        "custodian_email": custodian.email,
    }
    for key, value in values.items():
        path = path.replace("{" + key + "}", str(value))
    headers = {"Authorization": f"Bearer {token}"}
    before = snapshot(db)
    if body is None:
        resp = api.client.open(f"/api/v1{path}", method=method, headers=headers)
    elif isinstance(body, dict):
        raw = json.dumps(_fill(body, values))
        resp = api.client.open(
            f"/api/v1{path}",
            method=method,
            headers={**headers, "Content-Type": "application/json"},
            data=raw,
        )
    else:
        resp = api.client.open(
            f"/api/v1{path}",
            method=method,
            headers={**headers, "Content-Type": "application/json"},
            data=body,
        )
    assert resp.status_code == status, (resp.status_code, resp.data[:300])
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == code
    assert changes(db, before) == []  # an unknown id's refusal is audited, nothing else


def test_a_non_json_content_type_is_invalid_json(api, make: Factory, db):
    token = make.token(make.person())
    before = _counts(db)
    resp = api.client.post(
        "/api/v1/records",
        data="{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
    )
    assert resp.status_code == 400 and resp.json["code"] == "invalid_json"
    assert _counts(db) == before


def test_an_unauthorised_caller_learns_nothing_from_bad_input(api, make: Factory):
    """The gate decides before any input is parsed: bad input from a denied caller is 403."""
    token = make.token(make.person())
    resp = api.client.post(
        "/api/v1/people/1/departure",
        data='{"leaving_on": NaN',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 403
    anon = api.client.post("/api/v1/records", data="[[[", content_type="application/json")
    assert anon.status_code == 401


def test_an_upload_must_be_a_file(api, make: Factory, db):
    employee = make.person()
    record = make.record(make.client("general"), by=employee)
    headers = {"Authorization": f"Bearer {make.token(employee)}"}
    before = _counts(db)
    for data, code in (({}, "missing_file"), ({"file": "not a file"}, "invalid_file")):
        resp = api.client.post(
            f"/api/v1/records/{record.id}/attachments", headers=headers, data=data
        )
        assert resp.status_code == 400 and resp.json["code"] == code
    assert _counts(db) == before
