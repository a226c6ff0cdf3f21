"""Dynamic management: review cycles per tier, stale credit reports, audited reviews."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from click.testing import CliRunner

from tests.factories import Factory
from vault.archive.records import Deposit, add_months, deposit
from vault.caller import Caller
from vault.cli import main
from vault.models import Client


def opened_days_ago(db, client: Client, days: int) -> None:
    db.execute(
        sa.update(Client)
        .where(Client.id == client.id)
        .values(created_at=datetime.now(UTC) - timedelta(days=days))
    )
    db.commit()


def test_due_list_follows_each_tiers_cycle_and_the_custodians_scope(api, make: Factory, db):
    custodian = make.custodian("general", "special")
    general_old = make.client("general", code="GENOLD")
    general_new = make.client("general", code="GENNEW")
    special = make.client("special", code="SPEC")
    core = make.client("core", code="COREOLD")
    opened_days_ago(db, general_old, 181)  # general cycle: 180 days
    opened_days_ago(db, general_new, 170)
    opened_days_ago(db, special, 91)  # special cycle: 90 days
    opened_days_ago(db, core, 400)  # out of this custodian's scope

    token = make.token(custodian)
    due = api.get("/reviews/due", token)
    assert due.status_code == 200, due.json
    assert [(d["client"]["code"], d["days_overdue"]) for d in due.json["items"]] == [
        ("GENOLD", 1),
        ("SPEC", 1),
    ]
    assert due.json["items"][0]["last_reviewed_at"] is None
    soon = api.get("/reviews/due?within=10", token).json["items"]
    assert [d["client"]["code"] for d in soon] == ["GENOLD", "SPEC", "GENNEW"]

    done = api.post(f"/clients/{general_old.id}/review", token)
    assert done.status_code == 201, done.json
    after = api.get("/reviews/due", token).json["items"]
    assert [d["client"]["code"] for d in after] == ["SPEC"]
    later = api.get("/reviews/due?within=200", token).json["items"]
    reviewed = next(d for d in later if d["client"]["code"] == "GENOLD")
    assert reviewed["due_on"] == (date.today() + timedelta(days=180)).isoformat()

    auditor = make.token(make.person(roles=("employee", "auditor")))
    events = api.get(f"/audit/events?action=client:review&client={general_old.id}", auditor).json[
        "items"
    ]
    assert [(e["decision"], e["actor"]["person_id"]) for e in events] == [("allow", custodian.id)]


def test_core_cycle_is_sixty_days_and_configurable(api, make: Factory, db, vault):
    custodian = make.custodian("core")
    core = make.client("core", code="CORE1")
    opened_days_ago(db, core, 61)
    token = make.token(custodian)
    assert [d["client"]["code"] for d in api.get("/reviews/due", token).json["items"]] == ["CORE1"]
    object.__setattr__(
        vault, "config", vault.config.with_(review_days={"core": 90, "special": 90, "general": 180})
    )
    assert api.get("/reviews/due", token).json["items"] == []


def test_who_may_not_review_is_told_why_and_audited(api, make: Factory):
    client = make.client("core")
    cases = [
        (make.person(), "not_custodian"),
        (make.custodian("general"), "tier_out_of_scope"),
        (make.custodian("core", years=1), "tenure_too_short"),
        (make.person(roles=("employee", "auditor")), "not_custodian"),
    ]
    for person, code in cases:
        resp = api.post(f"/clients/{client.id}/review", make.token(person))
        assert resp.status_code == 403 and resp.json["code"] == code, (code, resp.json)
    employee = make.token(make.person())
    listing = api.get("/reviews/due", employee)
    assert listing.status_code == 403 and listing.json["code"] == "role_required"
    missing = api.post("/clients/999999/review", make.token(make.custodian()))
    assert missing.status_code == 404 and missing.json["code"] == "client_not_found"
    auditor = make.token(make.person(roles=("employee", "auditor")))
    events = api.get(f"/audit/events?action=client:review&client={client.id}", auditor).json[
        "items"
    ]
    assert [e["decision"] for e in events] == ["deny"] * 4
    assert [e["reason"] for e in events] == [code for _, code in cases]


def credit(vault, db, client, made: date, months: int, title="Credit report"):
    return deposit(
        vault,
        db,
        Caller.operator(),
        Deposit(
            client_id=client.id,
            section="credit",
            title=title,
            content=b"rating",
            doc_date=made,
            valid_until=add_months(made, months),
        ),
    )


def test_stale_credit_reports(api, make: Factory, vault, db):
    today = date.today()
    lapsed = make.client("general", code="LAPSED")
    renewed = make.client("general", code="RENEWED")
    current = make.client("general", code="CURRENT")
    hidden = make.client("core", code="HIDDEN")
    old = credit(vault, db, lapsed, today - timedelta(days=200), 3)
    credit(vault, db, renewed, today - timedelta(days=400), 12, "old report")
    credit(vault, db, renewed, today - timedelta(days=10), 6, "new report")
    credit(vault, db, current, today - timedelta(days=30), 12)
    credit(vault, db, hidden, today - timedelta(days=200), 3)

    token = make.token(make.custodian("general"))
    stale = api.get("/reviews/stale-reports", token)
    assert stale.status_code == 200
    assert [(r["client_code"], r["id"]) for r in stale.json["items"]] == [("LAPSED", old.id)]
    assert stale.json["items"][0]["valid_until"] < today.isoformat()


def test_valid_until_must_be_three_to_twelve_months_after_the_report(api, make: Factory):
    token = make.token(make.person())
    client = make.client("general")
    made = date(2026, 1, 31)

    def post(until: date, section: str = "credit"):
        return api.post(
            "/records",
            token,
            json={
                "client_id": client.id,
                "section": section,
                "title": "Credit report",
                "content": "rating",
                "doc_date": made.isoformat(),
                "valid_until": until.isoformat(),
            },
        )

    for bad in (date(2026, 4, 29), date(2027, 2, 1), date(2025, 12, 1)):
        resp = post(bad)
        assert resp.status_code == 400 and resp.json["code"] == "invalid_valid_until", bad
    assert post(date(2026, 4, 30)).status_code == 201  # 3 months after 31 January
    assert post(date(2027, 1, 31)).status_code == 201
    wrong_section = post(date(2026, 6, 1), section="basic")
    assert wrong_section.status_code == 400


def test_cli_lists_and_marks(make: Factory, vault, db, config):
    custodian = make.custodian("general")
    client = make.client("general", code="CLIFILE")
    opened_days_ago(db, client, 365)
    env = {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "x",
    }
    runner = CliRunner()
    due = runner.invoke(main, ["files", "due", "--as", custodian.email], env=env)
    assert due.exit_code == 0, due.output
    assert "CLIFILE" in due.output and "185 days overdue" in due.output
    marked = runner.invoke(main, ["files", "reviewed", "clifile", "--as", custodian.email], env=env)
    assert marked.exit_code == 0, marked.output
    assert (
        "0 client file(s) due"
        in runner.invoke(main, ["files", "due", "--as", custodian.email], env=env).output
    )
    refused = runner.invoke(
        main, ["files", "reviewed", "CLIFILE", "--as", make.person().email], env=env
    )
    assert refused.exit_code == 3 and "not_custodian" in refused.output
    stale = runner.invoke(main, ["files", "stale"], env=env)
    assert stale.exit_code == 0 and "0 stale credit report(s)" in stale.output
