"""Two custodians lending the same item to each other at the same moment (finding 9).

Each check-out locks two people's rows: the lender's and the borrower's. Locked in the
callers' order (lender first), A-lends-to-B and B-lends-to-A wait on each other and
PostgreSQL kills one as a deadlock, a 500 with no audit event. Locked by id, the second
waits for the first, then finds the item out: 409 ``item_on_loan``, audited.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from audit import audit_events
from tests.factories import Factory
from vault import uow
from vault.caller import Caller
from vault.custody import loans
from vault.errors import Conflict
from vault.models import Loan, Person

ROUNDS = 12


def test_custodians_lending_to_each_other_never_deadlock(make: Factory, vault, db):
    one, two = make.custodian("general"), make.custodian("general")
    record = make.record(make.client("general"))
    items = [
        uow.run(
            db,
            loans.add_item,
            vault,
            db,
            Caller(person=one),
            record.id,
            kind="folder",
            label=f"Folder {n}",
            location="Room 3",
        ).id
        for n in range(ROUNDS)
    ]
    db.commit()
    results: dict[int, list[str]] = {item: [] for item in items}
    barrier = threading.Barrier(2)

    def lend_each(lender_id: int, borrower_id: int) -> None:
        for item_id in items:
            with vault.sessions() as session:
                lender = session.get(Person, lender_id)
                taker = session.get(Person, borrower_id)
                session.commit()  # SQLite: do not hold the write lock while waiting
                barrier.wait(30)
                try:
                    uow.run(
                        session,
                        loans.checkout,
                        vault,
                        session,
                        Caller(person=lender),
                        item_id,
                        taker,
                        pages=3,
                        purpose="swap",
                    )
                    results[item_id].append("won")
                except Conflict as exc:
                    results[item_id].append(exc.code)
                except Exception as exc:  # a deadlock, or anything else: the test fails
                    results[item_id].append(repr(exc)[:200])

    threads = [
        threading.Thread(target=lend_each, args=(one.id, two.id)),
        threading.Thread(target=lend_each, args=(two.id, one.id)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(sorted(r) == ["item_on_loan", "won"] for r in results.values()), results
    db.rollback()
    per_item = db.execute(sa.select(Loan.item_id, sa.func.count()).group_by(Loan.item_id)).all()
    assert sorted(per_item) == [(item, 1) for item in items]
    refused = db.execute(
        sa.select(audit_events.c.resource_record, audit_events.c.body).where(
            audit_events.c.action == "item:checkout", audit_events.c.outcome == "denied"
        )
    ).all()
    assert len(refused) == ROUNDS
    assert all('"reason":"item_on_loan"' in body for _, body in refused)
