"""Finding 5: the export quota follows effective custody, never a designation alone.

A custodian designated for a tier whose tenure is too short for it (or designated for
another tier) is, for that tier, an employee with a grant: they get the grant holder's
quota (default 20 an hour), not the custodian's (60 an hour).
"""

from __future__ import annotations

import sqlalchemy as sa

from tests.factories import Factory
from vault import access
from vault.models import Alert, Person


def _drain(api, make: Factory, reader, n: int = 25):
    client = make.client("general")
    depositor = make.person()
    records = [make.record(client, by=depositor) for _ in range(n)]
    make.grant(reader, client=client)
    token = make.token(reader)
    return [
        api.get(f"/records/{r.id}/content?purpose=annual+review", token).json.get("code", "ok")
        for r in records
    ]


def test_a_custodian_without_tenure_drains_nothing_past_the_grant_holders_quota(
    api, make: Factory, vault, db
):
    """The finding as reported: designated lately, tenure too short, a client-file grant,
    25 records: stopped at the grant holder's 20, put under review, alert raised."""
    assert (vault.config.quota_hour, vault.config.custodian_quota_hour) == (20, 60)
    newcomer = make.custodian("general", years=40 / 365.25)
    codes = _drain(api, make, newcomer)
    assert codes[:20] == ["ok"] * 20
    assert codes[20] == "export_quota_exceeded"
    assert set(codes[21:]) == {"under_review"}
    assert db.scalar(sa.select(Person.under_review).where(Person.id == newcomer.id)) is True
    alerts = db.scalars(sa.select(Alert).where(Alert.person_id == newcomer.id)).all()
    assert [a.kind for a in alerts] == ["quota_exceeded"]
    assert "20/20 per hour" in alerts[0].summary
    opened = db.execute(
        sa.text(
            "SELECT count(DISTINCT resource_record) FROM audit_events WHERE "
            "action = 'record:consult' AND decision = 'allow' AND actor_person_id = :p"
        ),
        {"p": newcomer.id},
    ).scalar()
    assert opened == 20


def test_a_custodian_of_another_tier_reads_a_grant_within_the_grant_holders_quota(
    api, make: Factory, vault
):
    core_only = make.custodian("core", years=10)
    codes = _drain(api, make, core_only, n=21)
    assert codes[:20] == ["ok"] * 20 and codes[20] == "export_quota_exceeded"


def test_an_effective_custodian_keeps_the_custodians_quota(api, make: Factory, vault, db):
    custodian = make.custodian("general", years=10)
    assert set(_drain(api, make, custodian)) == {"ok"}
    quota = access.quota_of(vault, db, db.get(Person, custodian.id), 0, tier="general")
    assert (quota.hour, quota.hour_limit) == (25, 60)
    # ...for the tiers they hold in effect only: designated for general, not for core.
    core = access.quota_of(vault, db, db.get(Person, custodian.id), 0, tier="core")
    assert core.hour_limit == 20
    # Four years: enough for general (3), not for core (5).
    junior = make.custodian("general", "core", years=4)
    assert access.quota_of(vault, db, junior, 0, tier="general").hour_limit == 60
    assert access.quota_of(vault, db, junior, 0, tier="core").hour_limit == 20
