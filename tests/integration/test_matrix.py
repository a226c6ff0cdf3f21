"""The authorization matrix: every content route x every role x every state, from one table.

Each cell is the decision a real request gets; the expected value is the error code
(or ``ok``). Changing a policy line changes a cell, and the test says which.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import Factory
from vault import uow
from vault.caller import Caller
from vault.db import utcnow
from vault.grants import live
from vault.models import Grant, Person
from vault.people import departures

STATES = [
    "none",
    "active_grant",
    "expired_grant",
    "revoked_grant",
    "departing",
    "departed",
    "under_review",
    "over_quota",
    "tenure_too_short",
    "tier_out_of_scope",
]

#                      employee                 custodian               auditor               admin
EXPECTED = {
    "none":              ("no_grant",             "ok",                   "auditor_no_content", "no_grant"),
    "active_grant":      ("ok",                   "ok",                   "auditor_no_content", "ok"),
    "expired_grant":     ("no_grant",             "ok",                   "auditor_no_content", "no_grant"),
    "revoked_grant":     ("no_grant",             "ok",                   "auditor_no_content", "no_grant"),
    "departing":         ("person_departing",     "person_departing",     "person_departing",   "person_departing"),
    "departed":          ("person_disabled",      "person_disabled",      "person_disabled",    "person_disabled"),
    "under_review":      ("under_review",         "under_review",         "under_review",       "under_review"),
    "over_quota":        ("export_quota_exceeded", "export_quota_exceeded", "export_quota_exceeded", "export_quota_exceeded"),
    "tenure_too_short":  ("no_grant",             "tenure_too_short",     "auditor_no_content", "no_grant"),
    "tier_out_of_scope": ("no_grant",             "tier_out_of_scope",    "auditor_no_content", "no_grant"),
}  # fmt: skip
ROLES = ("employee", "custodian", "auditor", "admin")
ROUTES = ("content", "attachment")


def _person(make: Factory, role: str, state: str) -> Person:
    years = 1 if state == "tenure_too_short" else 10
    tiers: tuple[str, ...] = ()
    if role == "custodian":
        tiers = ("core",) if state == "tier_out_of_scope" else ("general",)
    roles = {
        "employee": ("employee",),
        "custodian": ("employee",),
        "auditor": ("employee", "auditor"),
        "admin": ("employee", "admin"),
    }[role]
    return make.person(roles=roles, years=years, tiers=tiers)


def _apply(state: str, person: Person, record, make: Factory, vault, db) -> None:
    """Put ``person`` in ``state`` through the real services (and the clock, via rows)."""
    if state in (
        "active_grant",
        "expired_grant",
        "revoked_grant",
        "departing",
        "departed",
        "under_review",
        "over_quota",
    ):
        make.grant(person, record)
    if state == "expired_grant":
        db.execute(
            sa.update(Grant)
            .where(Grant.person_id == person.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.commit()
    elif state == "revoked_grant":
        grant = db.scalar(sa.select(Grant).where(Grant.person_id == person.id))
        uow.run(db, live.revoke, vault, db, Caller(person=make.admin()), grant.id, "test")
    elif state in ("departing", "departed"):
        day = date.today() + timedelta(days=10) if state == "departing" else date.today()
        uow.run(db, departures.set_departure, vault, db, Caller(person=make.admin()), person, day)
    elif state == "under_review":
        db.execute(sa.update(Person).where(Person.id == person.id).values(under_review=True))
        db.commit()
    elif state == "over_quota":
        object.__setattr__(
            vault,
            "config",
            vault.config.with_(
                quota_hour=0, quota_day=0, custodian_quota_hour=0, custodian_quota_day=0
            ),
        )


@pytest.mark.long
def test_matrix(api, make: Factory, vault, db):
    """Every cell on one shared record: each cell gets a person of its own, put in its state.

    The over-quota cells come last: their state is the vault's quota (zero for everyone),
    not the person's. A failure lists every cell that differs, not only the first.
    """
    depositor = make.person()
    record = make.record(make.client("general"), content=b"MATRIX-CONTENT", by=depositor)
    attachment = api.client.post(
        f"/api/v1/records/{record.id}/attachments",
        headers={"Authorization": f"Bearer {make.token(depositor)}"},
        data={"file": (io.BytesIO(b"MATRIX-FILE"), "f.txt", "text/plain")},
    ).json
    paths = {
        "content": f"/records/{record.id}/content",
        "attachment": f"/records/{record.id}/attachments/{attachment['id']}/content",
    }
    order = [s for s in STATES if s != "over_quota"] + ["over_quota"]
    wrong: list[str] = []
    for state in order:
        for role in ROLES:
            expected = EXPECTED[state][ROLES.index(role)]
            for route in ROUTES:
                # A person per cell: a denial can change the person (the quota alert puts
                # them under review), and the next cell must not inherit that.
                person = _person(make, role, state)
                token = make.token(person)
                _apply(state, person, record, make, vault, db)
                resp = api.get(f"{paths[route]}?purpose=matrix+check", token)
                if expected == "ok":
                    got = "ok" if resp.status_code == 200 else str(resp.json)
                else:
                    got = resp.json["code"] if resp.status_code == 403 else str(resp.status_code)
                shown = b"MATRIX-" in resp.data
                cell = f"{state} x {role} x {route}"
                if got != expected or shown != (expected == "ok"):
                    wrong.append(f"{cell}: {got}, content shown: {shown} (expected {expected})")
                # Allowed or denied, the attempt is in the audit log.
                db.commit()  # end the test session's read snapshot (SQLite) before looking
                logged = (
                    db.execute(
                        sa.text(
                            "SELECT decision FROM audit_events WHERE action = 'record:consult' "
                            "AND actor_person_id = :p AND resource_record = :r"
                        ),
                        {"p": person.id, "r": str(record.id)},
                    )
                    .scalars()
                    .all()
                )
                want = "allow" if expected == "ok" else "deny"
                if logged != [want]:
                    wrong.append(f"{cell}: logged {logged} (expected [{want!r}])")
    assert not wrong, "cells that differ:\n" + "\n".join(wrong)
