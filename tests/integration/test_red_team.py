"""Red team: a salesperson who has given notice tries to take the client files.

Everything they try after notice is denied and audited, and the auditor's
departure report names what they did get before.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from tests.factories import Factory
from vault.models import Alert


def test_salesperson_on_notice_cannot_take_the_files(api, make: Factory, db, vault):
    seller = make.person(years=6)
    colleague = make.custodian("general", "special")  # also leaving: "in the same position"
    custodian = make.custodian()
    admin = make.admin()
    auditor = make.person(roles=("employee", "auditor"))
    acme = make.client("core", code="ACME", name="Acme Trading")
    blue = make.client("general", code="BLUE", name="Blue Sky Retail")
    acme_records = [make.record(acme, content=b"ACME-SECRET-%d" % i) for i in range(5)]
    blue_records = [make.record(blue, content=b"BLUE-SECRET-%d" % i) for i in range(5)]
    token = make.token(seller)

    # Before notice: a legitimate grant on one Blue Sky record, used once.
    make.grant(seller, blue_records[0])
    got = api.get(f"/records/{blue_records[0].id}/content?purpose=renewal+call", token)
    assert got.status_code == 200
    # ...and a request for an Acme record, still waiting for its two approvals.
    req = api.post(
        "/access-requests",
        token,
        json={"record_id": acme_records[1].id, "reason": "annual review of the Acme account"},
    ).json["id"]

    # Notice is given: the admin sets the leaving date, and the colleague's too.
    leaving = (date.today() + timedelta(days=30)).isoformat()
    for person in (seller, colleague):
        assert (
            api.post(
                f"/people/{person.id}/departure", make.token(admin), json={"leaving_on": leaving}
            ).status_code
            == 200
        )
    denied_before = _denials(db, seller.id)
    attempts = 0

    def expect_denied(resp, *codes):
        nonlocal attempts
        attempts += 1
        assert resp.status_code in (400, 403, 404), resp.data
        assert resp.json["code"] in codes, resp.json
        assert b"SECRET" not in resp.data

    # 1. Loop over every record's content through the API.
    for rec in acme_records + blue_records:
        expect_denied(
            api.get(f"/records/{rec.id}/content?purpose=handover", token), "person_departing"
        )
    # 2. Huge pages, and searching the catalogue for content.
    expect_denied(api.get("/records?limit=100000", token), "person_departing")
    expect_denied(api.get("/records?q=SECRET", token), "person_departing")
    expect_denied(api.get("/clients?q=ACME", token), "person_departing")
    # 3. Ask for access, including copies of a whole client file.
    expect_denied(
        api.post(
            "/access-requests",
            token,
            json={
                "client_id": acme.id,
                "actions": ["consult", "copy"],
                "reason": "handing over the account to my successor",
            },
        ),
        "person_departing",
    )
    # 4. Approve their own pending request, or have a colleague in the same position do it.
    expect_denied(api.post(f"/access-requests/{req}/approve", token, json={}), "person_departing")
    colleague_resp = api.post(f"/access-requests/{req}/approve", make.token(colleague), json={})
    assert colleague_resp.status_code in (403, 409)
    assert colleague_resp.json["code"] in ("person_departing", "request_denied")
    honest = api.post(f"/access-requests/{req}/approve", make.token(custodian), json={})
    assert honest.status_code == 409 and honest.json["code"] == "request_denied"
    # 5. Keep using the old token after the leaving date has come.
    db.execute(
        sa.text("UPDATE people SET leaving_on = :d WHERE id = :p"),
        {"d": date.today(), "p": seller.id},
    )
    db.commit()
    expect_denied(
        api.get(f"/records/{acme_records[0].id}/content?purpose=last", token), "person_disabled"
    )
    expect_denied(api.get("/me", token), "person_disabled")

    # Every attempt was audited as a denial.
    assert _denials(db, seller.id) - denied_before >= attempts - 1
    kinds = {a for (a,) in db.execute(sa.select(Alert.kind).where(Alert.person_id == seller.id))}
    assert {"departing_access", "departed_access"} <= kinds

    # The auditor's departure report names what they got before notice.
    report = api.get(f"/people/{seller.id}/departure-report", make.token(auditor)).json
    used = {(t["action"], t["file_number"]) for t in report["touches"]}
    assert ("record:consult", blue_records[0].file_number) in used
    assert [c["code"] for c in report["clients"]] == ["BLUE"]
    assert all(
        t["file_number"] not in {r.file_number for r in acme_records} for t in report["touches"]
    )


def _denials(db, person_id: int) -> int:
    db.commit()
    return db.execute(
        sa.text(
            "SELECT count(*) FROM audit_events WHERE actor_person_id = :p AND decision = 'deny'"
        ),
        {"p": person_id},
    ).scalar()
