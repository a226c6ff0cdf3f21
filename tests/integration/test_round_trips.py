"""Roles, tiers and actions are rows, yet the hot paths cost no extra round trip."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault.caller import Caller
from vault.db import utcnow
from vault.grants import live
from vault.grants.requests import deciders
from vault.identity.tokens import issue_token, person_for_token
from vault.models import AccessRequest, Notification, Record
from vault.oversight.alerts import raise_alert
from vault.runtime import Vault


@contextmanager
def counted(db: Session, vault: Vault | None = None) -> Iterator[list[str]]:
    """The SQL statements ``db`` sends inside the block (and, given ``vault``, those its
    direct reads send on the driver's connection)."""
    seen: list[str] = []
    engine = db.get_bind()

    def note(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    if vault is not None:
        vault.direct.listeners.append(seen.append)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
        if vault is not None:
            vault.direct.listeners.remove(seen.append)


def test_a_token_brings_its_person_roles_and_tiers_in_one_statement(vault, db, make):
    keeper = make.custodian("core", "special")
    token = issue_token(vault, db, Caller.operator(), keeper)
    db.expunge_all()
    with counted(db, vault) as seen:
        who = person_for_token(vault.direct, db, token)
        assert who is not None
        principal = Caller(who=who).principal(utcnow().date())
    assert principal.roles == {"employee"}
    assert principal.custodian_tiers == {"core", "special"}
    assert len(seen) == 1, seen


def test_covering_grants_come_with_their_actions_in_one_statement(vault, db, make):
    reader = make.person()
    record = make.record()
    make.grant(reader, record, actions=("consult", "copy"))
    db.expunge_all()
    fresh = db.get(Record, record.id)
    assert fresh is not None
    with counted(db) as seen:
        grants = live.covering(db, reader.id, fresh, utcnow())
        actions = [g.action_list for g in grants]
    assert actions == [["consult", "copy"]]
    assert len(seen) == 1, seen


def test_deciders_match_the_tier_row_not_a_substring(vault, db, make):
    core = make.custodian("core")
    general = make.custodian("general")
    reader = make.person()
    make.grant(reader, make.record(make.client("general")))
    req = db.scalars(sa.select(AccessRequest).order_by(AccessRequest.id.desc())).first()
    assert req is not None
    found = {p.id for p in deciders(vault, db, req)}
    assert general.id in found and core.id not in found


def test_alerts_reach_the_holders_of_the_auditor_role_alone(vault, db, make):
    auditor = make.person(roles=("employee", "auditor"))
    admin = make.admin()
    raise_alert(vault, db, Caller(person=admin), "test", None, "something to look at")
    db.commit()
    told = db.scalars(sa.select(Notification.person_id).where(Notification.kind == "alert"))
    assert list(told) == [auditor.id]


def test_a_direct_read_returns_what_sqlalchemy_returns(vault, db, make):
    """The consultation's facts sent on the driver's connection (vault.db.DirectReads)
    come back as SQLAlchemy's own execution of the statement returns them: the grants'
    separator rendered, the times bound and read with their types."""
    from vault.access import _FACTS, _windows

    reader = make.person()
    record = make.record()
    grant = make.grant(reader, record, actions=("consult", "copy"))
    db.commit()
    params = {"record_id": record.id, **_windows(reader.id, record.id, utcnow())}
    expected = [tuple(row) for row in db.connection().execute(_FACTS, params)]
    got = vault.direct.rows_in(db, _FACTS, params)
    assert got == expected and len(got) == 1
    grants = dict(zip([c.key for c in _FACTS.selected_columns], got[0], strict=True))["grants"]
    assert sorted(grants.split(",")) == [f"{grant.id}:consult", f"{grant.id}:copy"]
