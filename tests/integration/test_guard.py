"""The bulk-export guard (DESIGN §3.6): quotas, alerts, review, across processes."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa

from tests.factories import Factory
from vault.models import Alert, Person


def small_quota(vault, hour=3, day=5, custodian_hour=4, custodian_day=6):
    object.__setattr__(
        vault,
        "config",
        vault.config.with_(
            quota_hour=hour,
            quota_day=day,
            custodian_quota_hour=custodian_hour,
            custodian_quota_day=custodian_day,
        ),
    )


def test_crossing_the_quota_denies_alerts_and_puts_under_review(api, make: Factory, vault, db):
    small_quota(vault)
    sales = make.person()
    auditor = make.person(roles=("employee", "auditor"))
    client = make.client("general")
    records = [make.record(client) for _ in range(5)]
    make.grant(sales, client=client)
    token = make.token(sales)
    for r in records[:3]:
        assert api.get(f"/records/{r.id}/content?purpose=prepare+renewal", token).status_code == 200
    # Re-opening a record already opened is not a new record.
    assert api.get(f"/records/{records[0].id}/content?purpose=again", token).status_code == 200
    crossed = api.get(f"/records/{records[3].id}/content?purpose=prepare+renewal", token)
    assert crossed.status_code == 403 and crossed.json["code"] == "export_quota_exceeded"
    assert db.scalar(sa.select(Person.under_review).where(Person.id == sales.id)) is True
    # Under review: even records opened before are refused now.
    again = api.get(f"/records/{records[0].id}/content?purpose=again", token)
    assert again.json["code"] == "under_review"

    a_tok = make.token(auditor)
    alerts = api.get("/alerts", a_tok).json
    assert [a["kind"] for a in alerts["items"]] == ["quota_exceeded"]
    assert alerts["under_review"] == [{"id": sales.id, "email": sales.email}]
    assert any(n["kind"] == "alert" for n in api.get("/notifications", a_tok).json["items"])

    assert (
        api.post(f"/people/{sales.id}/review/clear", token, json={"note": "self-clear"}).status_code
        == 403
    )
    cleared = api.post(
        f"/people/{sales.id}/review/clear",
        a_tok,
        json={"note": "called them: preparing the annual review"},
    )
    assert cleared.status_code == 200
    assert api.get("/alerts", a_tok).json["items"] == []
    events = api.get(f"/audit/events?person_id={auditor.id}&action=review:clear", a_tok).json[
        "items"
    ]
    assert len(events) == 1


def test_custodians_have_their_own_limits(api, make: Factory, vault):
    small_quota(vault)
    custodian = make.custodian("general")
    token = make.token(custodian)
    records = [make.record(make.client("general")) for _ in range(5)]
    codes = [
        api.get(f"/records/{r.id}/content?purpose=annual+review", token).status_code
        for r in records
    ]
    assert codes == [200, 200, 200, 200, 403]


def test_day_window_counts_too(api, make: Factory, vault, db):
    small_quota(vault, hour=100, day=2)
    sales = make.person()
    client = make.client("general")
    make.grant(sales, client=client)
    token = make.token(sales)
    codes = [
        api.get(
            f"/records/{make.record(client).id}/content?purpose=renewal+work", token
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 403]


def _hammer(url: str, home: str, token: str, record_ids: list[int], out) -> None:
    from vault.config import Config
    from vault.web import create_app

    cfg = Config(
        home=home,
        database_url=url,
        testing=True,
        secret_key="t",
        quota_hour=3,
        quota_day=5,
        custodian_quota_hour=3,
        custodian_quota_day=5,
    )
    client = create_app(cfg).test_client()
    codes = [
        client.get(
            f"/api/v1/records/{rid}/content?purpose=renewal+work",
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        for rid in record_ids
    ]
    out.put(codes)


@pytest.mark.long
def test_parallel_processes_never_exceed_the_quota(make: Factory, vault, db, config):
    """Four processes open distinct records at once for one person: at most 3 succeed."""
    sales = make.person()
    client = make.client("general")
    records = [make.record(client) for _ in range(12)]
    make.grant(sales, client=client)
    token = make.token(sales)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    chunks = [[r.id for r in records[i::4]] for i in range(4)]
    procs = [
        ctx.Process(target=_hammer, args=(config.database_url, str(config.home), token, chunk, out))
        for chunk in chunks
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    codes = [c for r in results for c in r]
    assert codes.count(200) == 3, codes
    assert set(codes) <= {200, 403}
    opened = db.execute(
        sa.text(
            "SELECT count(DISTINCT resource_record) FROM audit_events WHERE "
            "action = 'record:consult' AND decision = 'allow' AND actor_person_id = :p"
        ),
        {"p": sales.id},
    ).scalar()
    assert opened == 3
    assert db.scalar(sa.select(sa.func.count()).select_from(Alert)) >= 1
