"""The migration history: one head, and comma-joined columns upgraded into rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from vault.db import make_engine, make_sessionmaker
from vault.migrations import alembic_config, upgrade
from vault.models import AccessRequest, Alert, Designation, Grant, Person

BEFORE_ROWS = "0007_merge_heads"  # the last head whose tables held comma-joined names


def test_the_history_has_exactly_one_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads


def _old_data(url: str) -> dict[str, int]:
    """People, a designation, a request and a grant written as the previous head stored them."""
    now = datetime.now(UTC)
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:

        def add(table: str, **values: object) -> int:
            result = conn.execute(t[table].insert().values(**values))
            pk = result.inserted_primary_key
            assert pk is not None
            return int(pk[0])

        person = dict(hired_on=date(2015, 1, 1), under_review=False, created_at=now)
        admin = add("people", email="a@x.test", name="A", roles="admin,employee", **person)
        keeper = add("people", email="k@x.test", name="K", roles="auditor,employee", **person)
        plain = add("people", email="p@x.test", name="P", roles="employee", **person)
        add("api_tokens", person_id=keeper, token_hash="0" * 64, label="", created_at=now)
        designation = add(
            "designations",
            person_id=keeper,
            tiers="core,special",
            designated_by_id=admin,
            created_at=now,
        )
        client = add(
            "clients",
            code="C1",
            name="Client",
            tier="core",
            kind="company",
            relationship="active",
            wrapped_dek=b"k",
            created_at=now,
        )
        request = add(
            "access_requests",
            requester_id=plain,
            client_id=client,
            tier="core",
            actions="consult,lend",
            reason="a reason long enough",
            duration_minutes=60,
            approvals_needed=2,
            status="approved",
            created_at=now,
            expires_at=now + timedelta(days=3),
            decision_note="",
        )
        grant = add(
            "grants",
            request_id=request,
            person_id=plain,
            client_id=client,
            actions="consult,lend",
            starts_at=now,
            expires_at=now + timedelta(hours=1),
            revoke_reason="",
        )
    engine.dispose()
    return dict(
        admin=admin,
        keeper=keeper,
        plain=plain,
        designation=designation,
        request=request,
        grant=grant,
    )


def test_upgrade_moves_comma_joined_names_into_rows(empty_db_url):
    upgrade(empty_db_url, BEFORE_ROWS)
    ids = _old_data(empty_db_url)

    upgrade(empty_db_url)

    engine = make_engine(empty_db_url)
    with make_sessionmaker(engine)() as db:
        people = {p.id: p for p in db.scalars(sa.select(Person))}
        assert people[ids["admin"]].roles == ("admin", "employee")
        assert people[ids["keeper"]].role_set == {"auditor", "employee"}
        assert people[ids["plain"]].roles == ("employee",)
        assert people[ids["keeper"]].custodian_tiers() == {"core", "special"}
        designation = db.get(Designation, ids["designation"])
        assert designation is not None and designation.tier_list == ["core", "special"]
        request = db.get(AccessRequest, ids["request"])
        assert request is not None and request.action_list == ["consult", "lend"]
        grant = db.get(Grant, ids["grant"])
        assert grant is not None and grant.action_list == ["consult", "lend"]
        columns = {
            table: {c["name"] for c in sa.inspect(db.connection()).get_columns(table)}
            for table in ("people", "designations", "access_requests", "grants")
        }
    engine.dispose()
    assert "roles" not in columns["people"]
    assert "tiers" not in columns["designations"]
    assert "actions" not in columns["access_requests"] | columns["grants"]


def test_downgrade_joins_the_rows_back(empty_db_url):
    upgrade(empty_db_url, BEFORE_ROWS)
    ids = _old_data(empty_db_url)
    upgrade(empty_db_url)

    command.downgrade(alembic_config(empty_db_url), BEFORE_ROWS)

    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        roles = dict(conn.execute(sa.text("SELECT id, roles FROM people")).all())
        tiers = conn.execute(sa.text("SELECT tiers FROM designations")).scalar_one()
        granted = conn.execute(sa.text("SELECT actions FROM grants")).scalar_one()
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert roles[ids["admin"]] == "admin,employee" and roles[ids["plain"]] == "employee"
    assert (tiers, granted) == ("core,special", "consult,lend")
    assert "person_roles" not in tables and "grant_actions" not in tables


def test_upgrade_counts_the_people_already_there_as_confirmed(empty_db_url):
    """0009: hire dates already in the vault keep counting (they were its truth until now);
    designations made before the two-person rule name no approver."""
    upgrade(empty_db_url, BEFORE_ROWS)
    ids = _old_data(empty_db_url)
    upgrade(empty_db_url)

    engine = make_engine(empty_db_url)
    with make_sessionmaker(engine)() as db:
        people = list(db.scalars(sa.select(Person)))
        assert people and all(p.hire_date_confirmed for p in people)
        designation = db.get(Designation, ids["designation"])
        assert designation is not None and designation.approved_by_id is None
        assert "proposals" in sa.inspect(db.connection()).get_table_names()
    engine.dispose()


def test_alerts_keep_their_values_from_0016_and_old_rows_keep_their_line(empty_db_url):
    """0016: alerts from before keep ``params`` NULL (their English summary is shown);
    the downgrade drops the column and keeps the rows."""
    upgrade(empty_db_url, "0015_notification_params")
    engine = make_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO alerts (kind, summary, created_at) "
                "VALUES ('quota_exceeded', 'an old line', :now)"
            ),
            {"now": datetime.now(UTC)},
        )
    engine.dispose()

    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    with make_sessionmaker(engine)() as db:
        old = db.scalars(sa.select(Alert)).one()
        assert (old.summary, old.params) == ("an old line", None)
        old.params = {"email": "ann@example.com", "record": 7}
        db.commit()
        db.expire_all()
        assert db.scalars(sa.select(Alert)).one().params == {
            "email": "ann@example.com",
            "record": 7,
        }
    engine.dispose()

    command.downgrade(alembic_config(empty_db_url), "0015_notification_params")
    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("alerts")}
        summary = conn.execute(sa.text("SELECT summary FROM alerts")).scalar_one()
    engine.dispose()
    assert "params" not in columns and summary == "an old line"


def test_quota_units_are_filled_in_from_the_last_two_days_of_the_log(empty_db_url):
    """0019: each person's allowed counted events of the last two days become one row per
    unit with its last use; the downgrade drops the table and its trigger."""
    upgrade(empty_db_url, "0018_merge_heads")
    now = datetime.now(UTC)
    engine = make_engine(empty_db_url)
    events = [
        ("e1", 30, "record:consult", "allow", "1"),
        ("e2", 10, "record:consult", "allow", "1"),
        ("e3", 30 * 60, "record:copy", "allow", "2"),
        ("e4", 3 * 24 * 60, "record:consult", "allow", "3"),  # older than two days
        ("e5", 5, "record:consult", "deny", "4"),
        ("e6", 5, "record:read", "allow", "5"),
        ("e7", 5, "client:lookup", "allow", None),
    ]
    with engine.begin() as conn:
        for event_id, minutes, action, decision, record in events:
            conn.execute(
                sa.text(
                    "INSERT INTO audit_events (event_id, time, action, actor_person_id, "
                    "decision, outcome, resource_record, body, mac) "
                    "VALUES (:id, :time, :action, 7, :decision, 'ok', :record, '{}', 'x')"
                ),
                {
                    "id": event_id,
                    "time": now - timedelta(minutes=minutes),
                    "action": action,
                    "decision": decision,
                    "record": record,
                },
            )
    engine.dispose()

    upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT person_id, unit, last_at FROM quota_openings")).all()
    engine.dispose()
    units = {unit: last for person, unit, last in rows if person == 7}
    assert sorted(units) == ["1", "2", "e7"] and len(rows) == 3
    assert abs(_utc(units["1"]) - (now - timedelta(minutes=10))) < timedelta(seconds=1)

    command.downgrade(alembic_config(empty_db_url), "0018_merge_heads")
    engine = make_engine(empty_db_url)
    with engine.begin() as conn:
        assert "quota_openings" not in sa.inspect(conn).get_table_names()
        conn.execute(  # the trigger went with its table: the log still takes events
            sa.text(
                "INSERT INTO audit_events (event_id, time, action, actor_person_id, "
                "decision, outcome, resource_record, body, mac) "
                "VALUES ('e8', :now, 'record:consult', 7, 'allow', 'ok', '9', '{}', 'x')"
            ),
            {"now": now},
        )
    engine.dispose()


def _utc(value: datetime | str) -> datetime:
    """A time as the driver returned it (SQLite's text, without its zone), in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
