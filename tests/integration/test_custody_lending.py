"""Lending: check-out to a grant holder, one holder at a time, renewal, overdue, reminders,
check-in with the page count compared; every step audited."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from audit import audit_events
from tests.factories import Factory
from vault import uow
from vault.caller import Caller
from vault.cli import main
from vault.custody import loans
from vault.errors import Conflict
from vault.grants import requests
from vault.models import Alert, Item, Loan, Notification, Person

NOW = datetime.now(UTC)


def setup_item(api, make: Factory, tier: str = "general"):
    custodian = make.custodian(tier)
    record = make.record(make.client(tier), content=b"LOAN-CONTENT-SECRET")
    token = make.token(custodian)
    resp = api.post(
        f"/records/{record.id}/items",
        token,
        json={"kind": "folder", "label": "Contract folder 2026", "location": "Room 2, shelf B4"},
    )
    assert resp.status_code == 201, resp.json
    return custodian, token, record, resp.json["id"]


def checkout(api, token, item_id, borrower, pages=12, **kw):
    return api.post(
        f"/items/{item_id}/checkout",
        token,
        json={
            "borrower": borrower.email,
            "pages": pages,
            "purpose": "prepare the renewal talks",
            **kw,
        },
    )


def set_due(db, item_id: int, due: datetime) -> None:
    db.rollback()
    db.execute(
        sa.update(Loan)
        .where(Loan.item_id == item_id, Loan.returned_at.is_(None))
        .values(due_at=due)
    )
    db.commit()


def events(db, action: str) -> list[tuple[str, int | None]]:
    db.rollback()
    return db.execute(
        sa.select(audit_events.c.decision, audit_events.c.actor_person_id)
        .where(audit_events.c.action == action)
        .order_by(audit_events.c.seq)
    ).all()


def test_lending_life_cycle(api, make: Factory, vault, db, config):
    custodian, token, record, item_id = setup_item(api, make)
    borrower = make.person()
    grant = make.grant(borrower, record, actions=("lend",))

    out = checkout(api, token, item_id, borrower)
    assert out.status_code == 201, out.json
    loan = out.json
    assert loan["borrower_id"] == borrower.id and loan["grant_id"] == grant.id
    due = datetime.fromisoformat(loan["due_at"])
    assert timedelta(days=13, hours=23) < due - NOW < timedelta(days=14, hours=1)
    card = api.get(f"/items/{item_id}", token).json
    assert card["location"] == f"on loan to {borrower.email}"
    assert card["loan"]["id"] == loan["id"]

    # One holder at a time.
    second = checkout(api, token, item_id, make.custodian("general"))
    assert second.status_code == 409 and second.json["code"] == "item_on_loan"

    # One renewal.
    renewed = api.post(f"/items/{item_id}/renew", token, json={})
    assert renewed.status_code == 200 and renewed.json["renewals"] == 1
    assert datetime.fromisoformat(renewed.json["due_at"]) - due == timedelta(days=14)
    again = api.post(f"/items/{item_id}/renew", token, json={})
    assert again.status_code == 409 and again.json["code"] == "renewal_limit"

    # Due soon, then overdue, then a week late: first, second, third reminders.
    set_due(db, item_id, NOW + timedelta(days=1))
    assert [r.number for r in uow.run(db, loans.send_reminders, vault, db, Caller.operator())] == [
        1
    ]
    assert uow.run(db, loans.send_reminders, vault, db, Caller.operator()) == []  # not twice
    set_due(db, item_id, NOW - timedelta(hours=1))
    overdue = api.get("/loans?overdue=1", token).json["items"]
    assert [x["id"] for x in overdue] == [loan["id"]] and overdue[0]["overdue"] is True
    env = {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "x",
    }
    listed = CliRunner().invoke(main, ["loans", "overdue"], env=env)
    assert "1 overdue loan(s)" in listed.output and borrower.email in listed.output
    reminded = CliRunner().invoke(main, ["loans", "remind"], env=env)
    assert "reminder 2 (overdue)" in reminded.output, reminded.output
    set_due(db, item_id, NOW - timedelta(days=8))
    assert [r.number for r in uow.run(db, loans.send_reminders, vault, db, Caller.operator())] == [
        3
    ]
    notes = db.scalars(
        sa.select(Notification).where(Notification.kind.like("loan_%")).order_by(Notification.id)
    ).all()
    assert [(n.person_id, n.subject.split(":")[0]) for n in notes] == [
        (borrower.id, "First reminder"),
        (borrower.id, "Second reminder"),
        (borrower.id, "Third reminder"),
        (custodian.id, "Third reminder"),
    ]
    assert "Contract folder 2026" in notes[0].subject and "LOAN-CONTENT" not in str(
        [(n.subject, n.body) for n in notes]
    )

    # Back with a page missing: the mismatch is flagged and the auditors alerted.
    back = api.post(f"/items/{item_id}/checkin", token, json={"pages": 11, "condition": "worn"})
    assert back.status_code == 200, back.json
    assert back.json["pages_mismatch"] is True and back.json["received_by"] == custodian.id
    assert back.json["pages_in"] == 11 and back.json["condition"] == "worn"
    db.rollback()
    alert = db.scalar(sa.select(Alert).where(Alert.kind == "loan_returned_short"))
    assert alert is not None and alert.person_id == borrower.id
    assert alert.params is not None
    assert (alert.params["pages_in"], alert.params["condition"]) == (11, "worn")
    card = api.get(f"/items/{item_id}", token).json
    assert card["location"] == "Room 2, shelf B4" and card["loan"] is None
    assert [(h["reason"], h["location"]) for h in card["history"]] == [
        ("registered", "Room 2, shelf B4"),
        ("checkout", f"on loan to {borrower.email}"),
        ("checkin", "Room 2, shelf B4"),
    ]
    assert api.get("/loans", token).json["items"] == []

    # Every step is on the audit log, with no content in it.
    assert events(db, "item:create") == [("allow", custodian.id)]
    # The refused second check-out and renewal are logged as refusals (outcome "denied").
    assert events(db, "item:checkout") == [("allow", custodian.id), ("n/a", custodian.id)]
    assert events(db, "item:borrow")[0] == ("allow", borrower.id)
    assert events(db, "item:renew") == [("allow", custodian.id), ("n/a", custodian.id)]
    assert [d for d, _ in events(db, "item:remind")] == ["n/a"] * 3
    assert events(db, "item:checkin") == [("allow", custodian.id)]
    bodies = db.scalars(sa.select(audit_events.c.body)).all()
    assert not any("LOAN-CONTENT" in b for b in bodies)


def test_matching_page_count_and_lending_to_a_custodian(api, make: Factory, db):
    _, token, _, item_id = setup_item(api, make)
    colleague = make.custodian("general")
    assert checkout(api, token, item_id, colleague, pages=30).status_code == 201
    back = api.post(
        f"/items/{item_id}/checkin",
        token,
        json={"pages": 30, "condition": "good", "location": "Room 1, shelf A1"},
    )
    assert back.json["pages_mismatch"] is False
    db.rollback()
    assert db.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
    assert api.get(f"/items/{item_id}", token).json["location"] == "Room 1, shelf A1"


def test_who_may_lend_and_who_may_borrow(api, make: Factory, vault, db):
    _custodian, token, record, item_id = setup_item(api, make)
    consult_only = make.person()
    make.grant(consult_only, record, actions=("consult",))
    leaving = make.person()
    make.grant(leaving, record, actions=("lend",))
    from datetime import date

    from vault.people import departures

    departures.set_departure(
        vault, db, Caller(person=make.admin()), leaving, date.today() + timedelta(days=20)
    )
    auditor = make.person(roles=("employee", "auditor"))
    for person, code in (
        (make.person(), "no_grant"),
        (consult_only, "grant_does_not_cover_lend"),
        (leaving, "person_departing"),
        (auditor, "auditor_no_content"),
    ):
        resp = checkout(api, token, item_id, person)
        assert resp.status_code == 403 and resp.json["code"] == code, (code, resp.json)
    assert [d for d, _ in events(db, "item:borrow")] == ["deny"] * 4

    borrower = make.person()
    make.grant(borrower, record, actions=("lend",))
    for lender, code in (
        (make.person(), "not_custodian"),
        (make.custodian("core"), "tier_out_of_scope"),
        (make.custodian("general", years=1), "tenure_too_short"),
    ):
        resp = checkout(api, make.token(lender), item_id, borrower)
        assert resp.status_code == 403 and resp.json["code"] == code, (code, resp.json)
    db.rollback()
    assert db.scalar(sa.select(sa.func.count()).select_from(Loan)) == 0
    # Nothing about loans for plain employees.
    employee = make.token(make.person())
    assert api.get("/loans", employee).status_code == 403
    assert api.get(f"/items/{item_id}", employee).status_code == 403


def test_renewal_is_refused_while_someone_else_waits(api, make: Factory, vault, db):
    _, token, record, item_id = setup_item(api, make)
    borrower = make.person()
    make.grant(borrower, record, actions=("lend",))
    assert checkout(api, token, item_id, borrower).status_code == 201
    waiting = make.person()
    uow.run(
        db,
        requests.request_access,
        vault,
        db,
        Caller(person=waiting),
        requests.Ask(
            reason="need the signed contract for the tax office",
            actions=("lend",),
            record_id=record.id,
        ),
    )
    resp = api.post(f"/items/{item_id}/renew", token, json={})
    assert resp.status_code == 409 and resp.json["code"] == "item_requested"
    db.rollback()
    loan = db.scalar(sa.select(Loan).where(Loan.item_id == item_id))
    assert loan.renewals == 0


def test_bad_lending_input_changes_nothing(api, make: Factory, db, vault):
    _, token, record, item_id = setup_item(api, make)
    borrower = make.custodian("general")
    for body, code in (
        ({"days": 31}, "invalid_days"),
        ({"days": 0}, "invalid_days"),
        ({"pages": -1}, "invalid_pages"),
        ({"pages": "many"}, "invalid_pages"),
        ({"borrower": "nobody@example.test"}, "person_not_found"),
    ):
        resp = api.post(
            f"/items/{item_id}/checkout",
            token,
            json={"borrower": borrower.email, "pages": 5, "purpose": "prepare", **body},
        )
        assert resp.status_code in (400, 404) and resp.json["code"] == code, (code, resp.json)
    missing = api.post(
        "/items/999999/checkout",
        token,
        json={"borrower": borrower.email, "pages": 5, "purpose": "prepare"},
    )
    assert missing.status_code == 404 and missing.json["code"] == "item_not_found"
    assert checkout(api, token, item_id, borrower, days=30).status_code == 201
    assert (
        api.post(f"/items/{item_id}/checkin", token, json={"pages": 5, "condition": "wet"}).json[
            "code"
        ]
        == "invalid_condition"
    )
    assert (
        api.post(
            f"/items/{item_id}/checkin", token, json={"pages": 5, "condition": "good"}
        ).status_code
        == 200
    )
    again = api.post(f"/items/{item_id}/checkin", token, json={"pages": 5, "condition": "good"})
    assert again.status_code == 409 and again.json["code"] == "item_not_on_loan"
    bad_item = api.post(
        f"/records/{record.id}/items", token, json={"kind": "crate", "label": "x", "location": "y"}
    )
    assert bad_item.status_code == 400 and bad_item.json["code"] == "invalid_kind"
    db.rollback()
    assert db.scalar(sa.select(sa.func.count()).select_from(Item)) == 1


def test_racing_checkouts_exactly_one_wins(make: Factory, vault, db):
    custodian = make.custodian("general")
    record = make.record(make.client("general"))
    item = uow.run(
        db,
        loans.add_item,
        vault,
        db,
        Caller(person=custodian),
        record.id,
        kind="folder",
        label="Raced folder",
        location="Room 3",
    )
    borrowers = [make.custodian("general") for _ in range(6)]
    barrier = threading.Barrier(len(borrowers))
    results: list[str] = []

    def attempt(borrower: Person) -> None:
        with vault.sessions() as session:
            lender = session.get(Person, custodian.id)
            taker = session.get(Person, borrower.id)
            session.commit()  # SQLite: do not hold the write lock while waiting
            barrier.wait()
            try:
                uow.run(
                    session,
                    loans.checkout,
                    vault,
                    session,
                    Caller(person=lender),
                    item.id,
                    taker,
                    pages=3,
                    purpose="race",
                )
                results.append("won")
            except Conflict as exc:
                results.append(exc.code)
            except Exception as exc:
                results.append(repr(exc))

    threads = [threading.Thread(target=attempt, args=(b,)) for b in borrowers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["item_on_loan"] * 5 + ["won"]
    db.rollback()
    assert db.scalar(sa.select(sa.func.count()).select_from(Loan)) == 1
    refused = db.execute(
        sa.select(audit_events.c.outcome).where(
            audit_events.c.action == "item:checkout", audit_events.c.outcome == "denied"
        )
    ).all()
    assert len(refused) == 5


def test_open_loan_index_holds_even_without_the_service(make: Factory, vault, db):
    """The database itself refuses a second open loan (what makes the race safe)."""
    custodian = make.custodian("general")
    record = make.record(make.client("general"))
    item = loans.add_item(
        vault, db, Caller(person=custodian), record.id, kind="box", label="Box", location="Basement"
    )
    row = {
        "item_id": item.id,
        "record_id": record.id,
        "borrower_id": custodian.id,
        "lent_by_id": custodian.id,
        "purpose": "x",
        "out_at": NOW,
        "due_at": NOW,
        "renewals": 0,
        "pages_out": 1,
        "home_location": "",
        "pages_mismatch": False,
        "reminders_sent": 0,
    }
    db.execute(sa.insert(Loan), [row])
    db.commit()
    try:
        db.execute(sa.insert(Loan), [row])
        db.commit()
        raise AssertionError("a second open loan was accepted")
    except sa.exc.IntegrityError:
        db.rollback()
    db.execute(sa.insert(Loan), [{**row, "returned_at": NOW}])  # closed loans: any number
    db.commit()


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def test_reminders_are_mailed_through_a_real_smtp_server(api, make: Factory, vault, db):
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        object.__setattr__(
            vault,
            "config",
            vault.config.with_(
                smtp_host="127.0.0.1", smtp_port=port, smtp_from="archive@example.test"
            ),
        )
        _, token, _record, item_id = setup_item(api, make)
        borrower = make.custodian("general")
        assert checkout(api, token, item_id, borrower).status_code == 201
        set_due(db, item_id, NOW + timedelta(hours=20))
        sent = uow.run(db, loans.send_reminders, vault, db, Caller.operator())
        assert [r.number for r in sent] == [1]
        assert inbox.messages == []  # queued in the outbox: the worker sends it
        from vault.worker import outbox

        assert outbox.drain(vault) == 1
    finally:
        server.stop()
    assert len(inbox.messages) == 1
    to, text = inbox.messages[0]
    assert to == [borrower.email]
    assert "Subject: First reminder: Contract folder 2026" in text
    assert "LOAN-CONTENT" not in text
    db.rollback()
    note = db.scalar(sa.select(Notification).where(Notification.person_id == borrower.id))
    assert note.emailed_at is not None


def test_borrowing_counts_for_the_borrower_and_shows_in_their_departure_report(
    api, make: Factory, vault, db
):
    """Lending is the borrower's use: their quota and departure report, not the custodian's."""
    from vault import access

    custodian, token, record, item_id = setup_item(api, make)
    borrower = make.person()
    make.grant(borrower, record, actions=("lend",))
    assert checkout(api, token, item_id, borrower).status_code == 201
    db.rollback()
    borrower_quota = access.quota_of(vault, db, db.get(Person, borrower.id), record.id + 1000)
    custodian_quota = access.quota_of(vault, db, db.get(Person, custodian.id), record.id + 1000)
    assert (borrower_quota.hour, custodian_quota.hour) == (1, 0)

    api.post(
        f"/people/{borrower.id}/departure",
        make.token(make.admin()),
        json={"leaving_on": (NOW + timedelta(days=20)).date().isoformat()},
    )
    auditor = make.token(make.person(roles=("employee", "auditor")))
    report = api.get(f"/people/{borrower.id}/departure-report", auditor).json
    assert ("item:borrow", record.file_number) in {
        (t["action"], t["file_number"]) for t in report["touches"]
    }


def test_a_check_out_and_its_audit_events_commit_as_one(api, make: Factory, db, backend):
    """The events of a lending decision are sent with the COMMIT (pipelined on PostgreSQL):
    the loan, its location history and both decisions' events are one transaction."""
    _custodian, token, record, item_id = setup_item(api, make)
    borrower = make.person()
    make.grant(borrower, record, actions=("lend",))
    out = checkout(api, token, item_id, borrower)
    assert out.status_code == 201, out.json
    db.commit()
    loan_id = out.json["id"]
    # PostgreSQL names the transaction that wrote each row; on SQLite (one writer at a
    # time, a request one transaction) there is nothing to compare.
    xmin = "xmin::text" if backend == "postgresql" else "'one'"
    loan = db.execute(sa.text(f"SELECT {xmin} FROM loans WHERE id = :id"), {"id": loan_id})
    moved = db.execute(
        sa.text(f"SELECT {xmin} FROM item_locations WHERE loan_id = :id"), {"id": loan_id}
    )
    events = db.execute(
        sa.text(
            f"SELECT {xmin} FROM audit_events WHERE action IN ('item:checkout', 'item:borrow') "
            "AND resource_record = :record"
        ),
        {"record": str(record.id)},
    )
    transactions = {row[0] for rows in (loan, moved, events) for row in rows}
    assert len(transactions) == 1, transactions
