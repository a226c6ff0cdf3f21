"""Statistics checked against a data set whose every figure is known."""

from __future__ import annotations

import json
from datetime import date, timedelta

from click.testing import CliRunner

from tests.factories import Factory
from vault import uow
from vault.archive.records import Deposit, add_months, deposit
from vault.caller import Caller
from vault.cli import main
from vault.custody import loans
from vault.db import utcnow
from vault.grants import requests

# (client code, tier, [(section, year), ...])
HOLDINGS = [
    ("CORE_A", "core", [("credit", 2024), ("basic", 2025), ("transactions", 2025)]),
    ("CORE_B", "core", [("credit", 2025)]),
    ("SPEC_C", "special", [("returns", 2023), ("returns", 2025)]),
    ("GEN_D", "general", [("basic", 2025)]),
    ("GEN_E", "general", []),
    ("GEN_F", "general", [("transactions", 2024), ("credit", 2025)]),
]


def build(make: Factory, vault, db, api):
    clients, recs = {}, {}
    for code, tier, items in HOLDINGS:
        clients[code] = make.client(tier, code=code)
        for i, (section, year) in enumerate(items):
            made = date.today() - timedelta(days=200)
            stale = code == "GEN_F" and section == "credit"
            recs[(code, i)] = deposit(
                vault,
                db,
                Caller.operator(),
                Deposit(
                    client_id=clients[code].id,
                    section=section,
                    title=f"{code} {i}",
                    content=b"figures",
                    year=year,
                    doc_date=made if stale else None,
                    valid_until=add_months(made, 3) if stale else None,
                ),
            )
    reader_a, reader_b = make.custodian(), make.custodian()
    ta, tb = make.token(reader_a), make.token(reader_b)
    for key in [("CORE_A", 0), ("CORE_A", 0), ("GEN_D", 0)]:
        assert api.get(f"/records/{recs[key].id}/content?purpose=stats", ta).status_code == 200
    assert (
        api.get(f"/records/{recs[('SPEC_C', 1)].id}/content?purpose=stats", tb).status_code == 200
    )
    nosy = make.person()
    nt = make.token(nosy)
    for key in [("CORE_A", 0), ("GEN_D", 0)]:
        assert api.get(f"/records/{recs[key].id}/content?purpose=peek", nt).status_code == 403
    # One request approved (a grant), one left pending.
    make.grant(make.person(), recs[("GEN_D", 0)])
    uow.run(
        db,
        requests.request_access,
        vault,
        db,
        Caller(person=make.person()),
        requests.Ask(
            reason="checking the delivery terms before a call", record_id=recs[("GEN_F", 0)].id
        ),
    )
    # Two loans out, one of them overdue, one returned.
    for n, (key, late) in enumerate(
        [(("CORE_A", 1), True), (("GEN_D", 0), False), (("GEN_F", 0), False)]
    ):
        item = uow.run(
            db,
            loans.add_item,
            vault,
            db,
            Caller(person=reader_a),
            recs[key].id,
            kind="folder",
            label=f"Folder {n}",
            location="Room 1",
        )
        loan = loans.checkout(
            vault, db, Caller(person=reader_a), item.id, reader_b, pages=4, purpose="stats data set"
        )
        if late:
            loan.due_at = utcnow() - timedelta(days=1)
            db.commit()
        if n == 2:
            uow.run(
                db,
                loans.checkin,
                vault,
                db,
                Caller(person=reader_a),
                item.id,
                pages=4,
                condition="good",
            )
    return reader_a, reader_b, nt


def test_statistics_match_the_known_data_set(api, make: Factory, vault, db):
    reader_a, reader_b, nosy_token = build(make, vault, db, api)
    assert api.get("/stats", nosy_token).json["code"] == "role_required"  # a denial too
    assert api.get("/stats", make.token(make.custodian())).status_code == 403

    resp = api.get("/stats", make.token(make.person(roles=("employee", "auditor"))))
    assert resp.status_code == 200, resp.json
    s = resp.json
    assert s["holdings"]["by_tier"] == {
        "core": {"clients": 2, "records": 4},
        "special": {"clients": 1, "records": 2},
        "general": {"clients": 3, "records": 3},
    }
    assert s["holdings"]["by_section"] == {"basic": 2, "credit": 3, "transactions": 2, "returns": 2}
    assert s["holdings"]["by_year"] == {"2023": 1, "2024": 2, "2025": 6}
    assert s["loans"] == {"out": 2, "overdue": 1}
    assert s["requests_by_status"]["approved"] == 1
    assert s["requests_by_status"]["pending"] == 1
    assert sum(s["requests_by_status"].values()) == 2
    assert s["consultations_per_day"] == {date.today().isoformat(): 4} or (
        sum(s["consultations_per_day"].values()) == 4
    )  # a run across UTC midnight
    assert [(r["person_id"], r["consultations"]) for r in s["top_readers"]] == [
        (reader_a.id, 3),
        (reader_b.id, 1),
    ]
    assert s["copies"] == 0
    assert s["denials_by_action"] == {"record:consult": 2, "stats:read": 2}
    assert s["alerts"] == {}
    assert s["stale_credit_reports"] == 1
    assert "figures" not in resp.get_data(as_text=True)


def test_admin_reads_stats_and_charts_are_plain_svg(api, make: Factory, vault, db):
    build(make, vault, db, api)
    token = make.token(make.admin())
    assert api.get("/stats?days=7", token).status_code == 200
    assert api.get("/stats?days=0", token).json["code"] == "invalid_days"
    chart = api.get("/stats/charts/holdings_by_tier.svg", token)
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    svg = chart.get_data(as_text=True)
    assert (
        svg.startswith("<svg")
        and "<script" not in svg
        and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert "<title>core: 4</title>" in svg and "<title>general: 3</title>" in svg
    for name in (
        "holdings_by_section",
        "holdings_by_year",
        "loans",
        "requests_by_status",
        "consultations_per_day",
        "top_readers",
        "denials_by_action",
    ):
        assert api.get(f"/stats/charts/{name}.svg", token).status_code == 200, name
    missing = api.get("/stats/charts/nope.svg", token)
    assert missing.status_code == 404 and missing.json["code"] == "chart_not_found"


def test_cli_stats(api, make: Factory, vault, db, config):
    build(make, vault, db, api)
    env = {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "x",
    }
    runner = CliRunner()
    out = runner.invoke(main, ["stats"], env=env)
    assert out.exit_code == 0, out.output
    assert "core 2 clients / 4 records" in out.output
    assert "Stale credit reports: 1" in out.output
    data = json.loads(runner.invoke(main, ["stats", "--json"], env=env).output)
    assert data["holdings"]["by_year"] == {"2023": 1, "2024": 2, "2025": 6}
    refused = runner.invoke(main, ["stats", "--as", make.person().email], env=env)
    assert refused.exit_code == 3 and "role_required" in refused.output
