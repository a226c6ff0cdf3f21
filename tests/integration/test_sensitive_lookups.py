"""Sensitive lookups (Defence 4): an exact search by tax id or bank account is an act of its
own, sent in a body, decided before anything is searched, audited and counted.

Finding 3 was an oracle: ``GET /clients?tax_id=...`` told any employee whether a guessed tax
id belonged to a client, and left no trace. These tests do what that employee, a custodian
and a scraper do, and look at the answers and at the audit log.
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa

from tests.factories import Factory
from tests.integration.test_guard import small_quota
from tests.webclient import error_code
from vault.models import Alert, Person

TAX = "91310000MA1FL0001X"
BANK = "6222 0202 0000 1234"
NOWHERE = "91440300MA5F00002Y"


def _answer(resp) -> tuple[int, str, dict]:
    """What a caller sees, minus the request id (different on every request)."""
    body = dict(resp.json)
    body.pop("request_id", None)
    return resp.status_code, resp.mimetype, body


def _lookups(db) -> list[dict]:
    rows = db.execute(
        sa.text(
            "SELECT actor_person_id, decision, resource_client, body FROM audit_events "
            "WHERE action = 'client:lookup' ORDER BY seq"
        )
    ).all()
    return [{"person": r[0], "decision": r[1], "client": r[2], **json.loads(r[3])} for r in rows]


def _all_events(db) -> str:
    return "\n".join(db.scalars(sa.text("SELECT body FROM audit_events")).all())


def test_an_employee_cannot_tell_an_existing_tax_id_from_a_guess(api, make: Factory, db, vault):
    make.client("core", tax_id=TAX, bank_account=BANK)
    token = make.token(make.person(years=20))
    hit = api.post("/clients/lookup", token, json={"tax_id": TAX})
    miss = api.post("/clients/lookup", token, json={"tax_id": NOWHERE})
    assert hit.status_code == 403 and hit.json["code"] == "not_custodian"
    assert _answer(hit) == _answer(miss)
    assert hit.get_data(as_text=True).replace(hit.json["request_id"], "") == miss.get_data(
        as_text=True
    ).replace(miss.json["request_id"], "")
    events = _lookups(db)
    assert [(e["decision"], e["client"]) for e in events] == [("deny", None), ("deny", None)]
    # Neither the value nor its blind index is in any event.
    everything = _all_events(db)
    for value in (TAX, NOWHERE):
        assert value not in everything
        assert vault.index(value, purpose="client.tax_id") not in everything


def test_a_custodian_finds_clients_of_their_tiers_only(api, make: Factory, db, vault):
    general = make.client("general", code="GENCO", tax_id=TAX)
    make.client("core", code="CORECO", bank_account=BANK)
    token = make.token(make.custodian("general"))
    found = api.post("/clients/lookup", token, json={"tax_id": "9131-0000 ma1fl0001x"})
    assert found.status_code == 200
    assert found.json["by"] == "tax_id"
    assert [c["id"] for c in found.json["items"]] == [general.id]
    assert TAX not in found.get_data(as_text=True)  # the card says has_tax_id, never the value
    # A core client's bank account looks exactly like no client at all.
    other_tier = api.post("/clients/lookup", token, json={"bank_account": BANK})
    nowhere = api.post("/clients/lookup", token, json={"bank_account": "0000 1111"})
    assert other_tier.status_code == nowhere.status_code == 200
    assert other_tier.json == nowhere.json == {"by": "bank_account", "items": []}
    events = _lookups(db)
    assert [(e["decision"], e["client"], e["details"]) for e in events] == [
        ("allow", str(general.id), {"by": "tax_id", "found": 1}),
        ("allow", None, {"by": "bank_account", "found": 0}),
        ("allow", None, {"by": "bank_account", "found": 0}),
    ]
    everything = _all_events(db)
    for value, field in ((TAX, "tax_id"), (BANK, "bank_account")):
        assert value not in everything
        assert vault.index(value, purpose=f"client.{field}") not in everything


def test_designation_without_tenure_is_refused_before_any_search(api, make: Factory, db):
    make.client("core", tax_id=TAX)
    token = make.token(make.custodian("core", years=1))
    hit = api.post("/clients/lookup", token, json={"tax_id": TAX})
    miss = api.post("/clients/lookup", token, json={"tax_id": NOWHERE})
    assert hit.status_code == 403 and hit.json["code"] == "tenure_too_short"
    assert _answer(hit) == _answer(miss)
    events = _lookups(db)
    assert [(e["decision"], e["details"]) for e in events] == [("deny", {"by": "tax_id"})] * 2


def test_bad_lookups_get_stable_codes(api, make: Factory):
    token = make.token(make.custodian())
    for body, code in (
        ({}, "invalid_lookup"),
        ({"tax_id": TAX, "bank_account": BANK}, "invalid_lookup"),
        ({"tax_id": ""}, "invalid_tax_id"),
        ({"tax_id": 91310000}, "invalid_tax_id"),
        ({"bank_account": "9" * 65}, "invalid_bank_account"),
        ({"tax_id": "---"}, "invalid_lookup"),
    ):
        resp = api.post("/clients/lookup", token, json=body)
        assert resp.status_code == 400 and resp.json["code"] == code, (body, resp.json)
    assert api.post("/clients/lookup", json={"tax_id": TAX}).status_code == 401


def test_a_sensitive_value_in_any_query_string_is_refused(api, web, make: Factory, db):
    make.client("general", tax_id=TAX)
    token = make.token(make.custodian())
    for path in (
        f"/clients?tax_id={TAX}",
        f"/clients?bank_account={TAX}",
        f"/clients?q=x&TaxId={TAX}",
        f"/records?tax-id={TAX}",
        f"/me?bank_account={TAX}",
    ):
        resp = api.get(path, token)
        assert resp.status_code == 400 and resp.json["code"] == "sensitive_in_url", path
        assert TAX not in resp.get_data(as_text=True)
    # Not even anonymously, and nothing was searched or counted for it.
    assert api.get(f"/clients?tax_id={TAX}").json["code"] == "sensitive_in_url"
    assert _lookups(db) == []
    web.sign_in(make.person())
    page = web.get(f"/clients?q=acme&tax_id={TAX}")
    assert page.status_code == 400 and error_code(page) == "sensitive_in_url"
    assert TAX not in page.get_data(as_text=True)  # not even in the language links


def test_lookups_count_against_the_export_quota(api, make: Factory, vault, db):
    small_quota(vault, custodian_hour=3, custodian_day=6)
    custodian = make.custodian("general")
    auditor = make.person(roles=("employee", "auditor"))
    record = make.record(make.client("general", tax_id=TAX))
    token = make.token(custodian)
    assert api.get(f"/records/{record.id}/content?purpose=annual+review", token).status_code == 200
    # Each lookup is one unit, even of the same value (unlike re-opening a record).
    for _ in range(2):
        assert api.post("/clients/lookup", token, json={"tax_id": TAX}).status_code == 200
    crossed = api.post("/clients/lookup", token, json={"tax_id": TAX})
    assert crossed.status_code == 403 and crossed.json["code"] == "export_quota_exceeded"
    assert db.scalar(sa.select(Person.under_review).where(Person.id == custodian.id)) is True
    alerts = db.scalars(sa.select(Alert).where(Alert.person_id == custodian.id)).all()
    assert [a.kind for a in alerts] == ["quota_exceeded"]
    assert "by tax_id" in alerts[0].summary and TAX not in alerts[0].summary
    # Its values, for the pages to write it in the reader's language (never the value).
    assert alerts[0].params is not None and alerts[0].params["lookup"] == "tax_id"
    assert alerts[0].params["record"] is None and TAX not in str(alerts[0].params)
    listed = api.get("/alerts", make.token(auditor)).json["items"]
    assert [a["kind"] for a in listed] == ["quota_exceeded"]
    # Under review: lookups and records alike are refused until an auditor clears them.
    again = api.post("/clients/lookup", token, json={"tax_id": NOWHERE})
    assert again.json["code"] == "under_review"
    refused = api.get(f"/records/{record.id}/content?purpose=annual+review", token)
    assert refused.json["code"] == "under_review"


def test_the_ui_lookup_is_a_post_form_for_custodians_and_no_url_holds_the_value(
    web, make: Factory, db
):
    client = make.client("general", code="LOOKCO", name="Lookup Co", tax_id=TAX)
    employee = web.another()
    employee.sign_in(make.person())
    plain = employee.get("/clients")
    assert plain.status_code == 200 and 'id="client-lookup"' not in plain.get_data(as_text=True)
    assert employee.post("/clients/lookup", {"by": "tax_id", "value": TAX}).status_code == 403

    web.sign_in(make.custodian("general"))
    page = web.get("/clients").get_data(as_text=True)
    form = re.search(r'<form method="(\w+)" action="([^"]+)"[^>]*id="client-lookup"', page)
    assert form and form.groups() == ("post", "/clients/lookup")
    found = web.post("/clients/lookup", {"by": "tax_id", "value": TAX})
    body = found.get_data(as_text=True)
    assert found.status_code == 200 and "Lookup Co" in body and 'id="lookup-result"' in body
    assert TAX not in body  # not echoed into the form, a link or the text
    urls = re.findall(r'(?:href|action|src)="([^"]*)"', body)
    assert urls and not [u for u in urls if TAX in u or "tax_id" in u]
    assert TAX not in (found.headers.get("Location") or "")
    missing = web.post("/clients/lookup", {"by": "tax_id", "value": NOWHERE})
    assert missing.status_code == 200 and "Lookup Co" not in missing.get_data(as_text=True)
    bad = web.post("/clients/lookup", {"by": "name", "value": "x"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_lookup"
    events = _lookups(db)
    assert [(e["decision"], e["client"]) for e in events] == [
        ("deny", None),
        ("allow", str(client.id)),
        ("allow", None),
    ]
