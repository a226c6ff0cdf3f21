"""Departure ends access at once (DESIGN §3.9), and the report says what they touched."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import sqlalchemy as sa
from click.testing import CliRunner

from tests.factories import Factory
from vault.cli import main
from vault.models import AccessRequest, Alert, Grant, Person

LEAVING = (date.today() + timedelta(days=14)).isoformat()


def depart(api, make, person, on=LEAVING):
    return api.post(
        f"/people/{person.id}/departure", make.token(make.admin()), json={"leaving_on": on}
    )


def test_setting_a_leaving_date_ends_access_now(api, make: Factory, db):
    sales = make.person()
    record = make.record(make.client("general"))
    make.grant(sales, record)
    pending_target = make.record(make.client("general"))
    token = make.token(sales)
    api.post(
        "/access-requests",
        token,
        json={"record_id": pending_target.id, "reason": "follow up on the open invoices"},
    )
    path = f"/records/{record.id}/content?purpose=prepare+renewal"
    assert api.get(path, token).status_code == 200

    resp = depart(api, make, sales)
    assert resp.status_code == 200 and resp.json["grants_revoked"] == 1
    assert db.scalar(sa.select(Grant.revoke_reason)) == "departure"
    assert (
        db.scalar(
            sa.select(AccessRequest.status).where(AccessRequest.record_id == pending_target.id)
        )
        == "denied"
    )

    denied = api.get(path, token)
    assert denied.status_code == 403 and denied.json["code"] == "person_departing"
    for path2, code in (("/records", "person_departing"), ("/clients", "person_departing")):
        assert api.get(path2, token).json["code"] == code
    again = api.post(
        "/access-requests",
        token,
        json={"record_id": record.id, "reason": "one more look before I go"},
    )
    assert again.status_code == 403 and again.json["code"] == "person_departing"
    me = api.get("/me", token)
    assert me.status_code == 200 and me.json["leaving_on"] == LEAVING


def test_departing_custodian_loses_custody_and_approvals(api, make: Factory, db):
    custodian = make.custodian("core")
    other = make.custodian("core")
    sales = make.person()
    record = make.record(make.client("core"))
    req = api.post(
        "/access-requests",
        make.token(sales),
        json={"record_id": record.id, "reason": "renewing the framework contract"},
    ).json
    api.post(f"/access-requests/{req['id']}/approve", make.token(custodian), json={})
    depart(api, make, custodian)
    assert (
        api.get(f"/records/{record.id}/content?purpose=review", make.token(custodian)).json["code"]
        == "person_departing"
    )
    # Their approval no longer counts: the request still needs two live custodians.
    after = api.post(f"/access-requests/{req['id']}/approve", make.token(other), json={})
    assert after.json["status"] == "pending" and len(after.json["approvals"]) == 1


def test_on_the_leaving_date_the_person_is_disabled_and_knocking_raises_an_alert(
    api, make: Factory, db
):
    sales = make.person()
    token = make.token(sales)
    depart(api, make, sales, on=date.today().isoformat())
    for path in ("/me", "/records"):
        resp = api.get(path, token)
        assert resp.status_code == 403 and resp.json["code"] == "person_disabled"
    record = make.record()
    resp = api.get(f"/records/{record.id}/content?purpose=one+last+look", token)
    assert resp.json["code"] == "person_disabled"
    kinds = db.scalars(sa.select(Alert.kind).where(Alert.person_id == sales.id)).all()
    assert kinds.count("departed_access") == 3


def test_departure_report_lists_what_they_touched(api, make: Factory):
    sales = make.person()
    general = make.client("general", code="GENCO", name="General Co")
    core = make.client("core", code="CORECO", name="Core Co")
    untouched = make.client("special", code="QUIET", name="Quiet Co")
    deposited = make.record(general, by=sales)
    consulted = make.record(core)
    make.record(untouched)
    make.grant(sales, consulted)
    api.get(f"/records/{consulted.id}/content?purpose=prepare+renewal", make.token(sales))
    api.get(f"/records/{make.record(untouched).id}/content?purpose=peek", make.token(sales))
    depart(api, make, sales)
    auditor = make.token(make.person(roles=("employee", "auditor")))

    report = api.get(f"/people/{sales.id}/departure-report", auditor)
    assert report.status_code == 200
    assert {c["code"] for c in report.json["clients"]} == {"GENCO", "CORECO"}
    actions = {(t["action"], t["file_number"]) for t in report.json["touches"]}
    assert ("record:deposit", deposited.file_number) in actions
    assert ("record:consult", consulted.file_number) in actions

    as_csv = api.get(f"/people/{sales.id}/departure-report?format=csv", auditor)
    assert as_csv.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert {r["client_code"] for r in rows} == {"GENCO", "CORECO"}
    employee = api.get(f"/people/{sales.id}/departure-report", make.token(make.person()))
    assert employee.status_code == 403


def test_only_admins_set_departures_and_never_their_own(api, make: Factory):
    sales, admin = make.person(), make.admin()
    resp = api.post(
        f"/people/{sales.id}/departure", make.token(make.person()), json={"leaving_on": LEAVING}
    )
    assert resp.status_code == 403 and resp.json["code"] == "role_required"
    own = api.post(f"/people/{admin.id}/departure", make.token(admin), json={"leaving_on": LEAVING})
    assert own.status_code == 403 and own.json["code"] == "self_departure"
    bad = api.post(f"/people/{sales.id}/departure", make.token(admin), json={"leaving_on": "soon"})
    assert bad.status_code == 400 and bad.json["code"] == "invalid_leaving_on"


def test_cli_depart_and_report(make: Factory, config, db):
    sales = make.person()
    auditor = make.person(roles=("employee", "auditor"))
    make.record(make.client("general", code="CLICO"), by=sales)
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    runner = CliRunner()
    out = runner.invoke(main, ["depart", sales.email, "--on", LEAVING], env=env)
    assert out.exit_code == 0 and "access ended now" in out.output
    db.expire_all()
    assert db.get(Person, sales.id).leaving_on.isoformat() == LEAVING
    rep = runner.invoke(main, ["report", "departure", sales.email, "--as", auditor.email], env=env)
    assert rep.exit_code == 0 and "CLICO" in rep.output
    bad = runner.invoke(main, ["depart", sales.email, "--on", "tomorrow"], env=env)
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
