"""Custody (保管) and provision for use (提供利用): items, lending, reminders, traced copies.

Lending: only a custodian in scope checks an item out, to a borrower who holds a
live grant naming ``lend`` or is a custodian of the tier (both decided in
:func:`vault.access.lend`). One holder at a time: a unique partial index allows
one open loan per item, so of two racing check-outs exactly one wins, on SQLite
and PostgreSQL. A loan runs ``loan_days_default`` days (at most ``loan_days_max``),
may be renewed once, and not while someone else's request to borrow the item
waits. Check-in records who received it, its condition and page count, and flags
a page count that differs from check-out. Every step is audited without content;
every move of an item is kept in its location history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit import Event
from vault import access, auditing, authz
from vault.archive.records import get_record
from vault.authz import require
from vault.caller import Caller
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound
from vault.models import (
    AccessRequest,
    Condition,
    Item,
    ItemLocation,
    Loan,
    Person,
    Record,
    RequestStatus,
)
from vault.oversight import alerts, notifications
from vault.policy import Action, Decision, Target
from vault.runtime import Vault

ITEM_KINDS = ("folder", "binder", "box", "media")


MAX_PAGES = 100_000
MAX_RENEWALS = 1  # a loan may be renewed once


FINAL_REMINDER_DAYS = 7  # the third reminder goes out a week after the due date


ORDINALS = {1: "First", 2: "Second", 3: "Third"}


def _target(record: Record) -> Target:
    return Target(record_id=record.id, client_id=record.client_id, tier=record.client.tier)


def _may(v: Vault, caller: Caller, action: Action, record: Record) -> Decision:
    """The policy's decision on a custodian's act on a record's item (no content released)."""
    return authz.decide(v, caller, action, _target(record), is_requester=False)


def _custody(
    v: Vault,
    db: Session,
    caller: Caller,
    action: Action,
    record: Record,
    resource: dict[str, object],
    details: dict[str, str | int | bool | None] | None = None,
    decision: Decision | None = None,
) -> Event:
    """Decide (unless already decided) and audit a custodian's act, allowed or denied."""
    event = authz.require(
        v,
        db,
        caller,
        action,
        _target(record),
        is_requester=False,
        resource={**resource, "client": record.client_id},
        details=details,
        decision=decision,
        audited=True,
    )
    assert event is not None
    return event


def get_item(db: Session, item_id: int) -> Item:
    """An item by id, or NotFound."""
    item = db.get(Item, item_id)
    if item is None:
        raise NotFound("no such item", code="item_not_found")
    return item


def add_item(
    v: Vault, db: Session, caller: Caller, record_id: int, *, kind: str, label: str, location: str
) -> Item:
    """Register a physical folder (or medium) holding a record, and where it is kept."""
    record = get_record(db, record_id)
    kind = kind.strip().lower()
    if kind not in ITEM_KINDS:
        raise InvalidInput(f"kind must be one of: {', '.join(ITEM_KINDS)}", code="invalid_kind")
    label, location = label.strip(), location.strip()
    if not 0 < len(label) <= 200:
        raise InvalidInput("label must be 1 to 200 characters", code="invalid_label")
    if not 0 < len(location) <= 200:
        raise InvalidInput("location must be 1 to 200 characters", code="invalid_location")
    decision = _may(v, caller, Action.ITEM_CREATE, record)
    if not decision:
        _custody(
            v, db, caller, Action.ITEM_CREATE, record, {"record": record.id}, decision=decision
        )
    item = Item(record_id=record.id, kind=kind, label=label, location=location)
    db.add(item)
    db.flush()
    _custody(
        v,
        db,
        caller,
        Action.ITEM_CREATE,
        record,
        {"record": record.id, "item": item.id},
        decision=decision,
    )
    db.add(
        ItemLocation(
            item_id=item.id, location=location, reason="registered", moved_by_id=caller.person_id
        )
    )
    return item


def _days(v: Vault, days: int | None) -> int:
    days = v.config.loan_days_default if days is None else days
    if not 1 <= days <= v.config.loan_days_max:
        raise InvalidInput(f"a loan runs 1 to {v.config.loan_days_max} days", code="invalid_days")
    return days


def _pages(pages: object) -> int:
    if isinstance(pages, bool) or not isinstance(pages, int) or not 0 <= pages <= MAX_PAGES:
        raise InvalidInput(
            f"pages must be a whole number from 0 to {MAX_PAGES}", code="invalid_pages"
        )
    return pages


def open_loan(db: Session, item_id: int) -> Loan | None:
    """The item's loan that is still out, if any."""
    return db.scalar(select(Loan).where(Loan.item_id == item_id, Loan.returned_at.is_(None)))


def checkout(
    v: Vault,
    db: Session,
    caller: Caller,
    item_id: int,
    borrower: Person,
    *,
    pages: int,
    purpose: str | None,
    days: int | None = None,
) -> Loan:
    """Check an item out to ``borrower`` (custodian act; both sides decided and audited)."""
    item = get_item(db, item_id)
    pages, days = _pages(pages), _days(v, days)
    now = utcnow()
    due = now + timedelta(days=days)
    details: dict[str, str | int | bool | None] = {
        "item": item.id,
        "borrower": borrower.id,
        "pages": pages,
        "due": due.isoformat(),
    }
    record, _, borrowed = access.lend(v, db, caller, item.record_id, borrower, purpose, details)
    resource: dict[str, object] = {
        "record": record.id,
        "client": record.client_id,
        "item": item.id,
        "person": borrower.id,
    }

    def taken() -> Exception:
        # One holder at a time: the refusal is audited as the caller's check-out.
        return authz.refuse(
            Conflict("this item is already out on loan", code="item_on_loan"),
            v,
            caller,
            Action.ITEM_CHECKOUT,
            resource=resource,
        )

    if open_loan(db, item.id) is not None:
        raise taken()
    loan = Loan(
        item_id=item.id,
        record_id=record.id,
        borrower_id=borrower.id,
        lent_by_id=caller.person_id,
        purpose=(purpose or "").strip()[:500],
        out_at=now,
        due_at=due,
        pages_out=pages,
        home_location=item.location,
        grant_id=int(borrowed.grant_id) if borrowed.grant_id else None,
    )
    db.add(loan)
    try:
        db.flush()
    except IntegrityError:
        raise taken() from None  # another check-out of this item committed first
    item.location = f"on loan to {borrower.email}"[:200]
    db.add(
        ItemLocation(
            item_id=item.id,
            location=item.location,
            reason="checkout",
            loan_id=loan.id,
            moved_by_id=caller.person_id,
        )
    )
    return loan


def checkin(
    v: Vault,
    db: Session,
    caller: Caller,
    item_id: int,
    *,
    pages: int,
    condition: str,
    location: str | None = None,
) -> Loan:
    """Take an item back: receiver, condition and page count recorded, mismatch flagged."""
    item = get_item(db, item_id)
    pages = _pages(pages)
    try:
        state = Condition(condition.strip().lower()).value
    except ValueError:
        raise InvalidInput(
            f"condition must be one of: {', '.join(c.value for c in Condition)}",
            code="invalid_condition",
        ) from None
    if location is not None and not 0 < len(location.strip()) <= 200:
        raise InvalidInput("location must be 1 to 200 characters", code="invalid_location")
    record = get_record(db, item.record_id)
    loan = open_loan(db, item.id)
    resource: dict[str, object] = {"record": record.id, "item": item.id}
    details: dict[str, str | int | bool | None] = {
        "item": item.id,
        "pages": pages,
        "condition": state,
    }
    if loan is not None:
        details.update(
            loan=loan.id,
            pages_out=loan.pages_out,
            mismatch=pages != loan.pages_out,
            overdue=loan.is_overdue(utcnow()),
        )
        resource["person"] = loan.borrower_id
    _custody(v, db, caller, Action.ITEM_CHECKIN, record, resource, details)
    if loan is None:
        raise authz.refuse(
            Conflict("this item is not out on loan", code="item_not_on_loan"),
            v,
            caller,
            Action.ITEM_CHECKIN,
            resource=resource,
        )
    loan.returned_at = utcnow()
    loan.received_by_id = caller.person_id
    loan.pages_in = pages
    loan.condition = state
    loan.pages_mismatch = pages != loan.pages_out
    item.location = (location or "").strip() or loan.home_location or "returned"
    db.add(
        ItemLocation(
            item_id=item.id,
            location=item.location,
            reason="checkin",
            loan_id=loan.id,
            moved_by_id=caller.person_id,
        )
    )
    if loan.pages_mismatch or state in (Condition.DAMAGED, Condition.INCOMPLETE):
        borrower = db.get(Person, loan.borrower_id)
        alerts.raise_alert(
            v,
            db,
            caller,
            "loan_returned_short" if loan.pages_mismatch else "loan_damaged",
            borrower,
            f"{item.label} ({record.file_number}) came back with {pages} of "
            f"{loan.pages_out} pages, condition {state}",
            details={
                "loan": loan.id,
                "item": item.id,
                "pages_out": loan.pages_out,
                "pages_in": pages,
            },
            params={
                "label": item.label,
                "file_number": record.file_number,
                "pages_in": pages,
                "pages_out": loan.pages_out,
                "condition": str(state),
            },
        )
    return loan


def waiting_requests(db: Session, record: Record, other_than: int, now: datetime) -> int:
    """Pending, unexpired requests by others to borrow this record (or its whole file)."""
    rows = db.scalars(
        select(AccessRequest).where(
            AccessRequest.status == RequestStatus.PENDING.value,
            AccessRequest.expires_at > now,
            AccessRequest.requester_id != other_than,
            AccessRequest.client_id == record.client_id,
            or_(AccessRequest.record_id.is_(None), AccessRequest.record_id == record.id),
        )
    )
    return sum(1 for r in rows if "lend" in r.action_list)


def renewable(loan: Loan) -> bool:
    """Whether ``loan`` has a renewal left (the page offers renewal only then)."""
    return loan.renewals < MAX_RENEWALS


def renew(v: Vault, db: Session, caller: Caller, item_id: int, *, days: int | None = None) -> Loan:
    """Extend a loan once, unless someone else is waiting to borrow the item."""
    item = get_item(db, item_id)
    days = _days(v, days)
    record = get_record(db, item.record_id)
    loan = open_loan(db, item.id)
    resource: dict[str, object] = {"record": record.id, "item": item.id}
    _custody(
        v,
        db,
        caller,
        Action.ITEM_RENEW,
        record,
        resource,
        {"item": item.id, "loan": loan.id if loan else None, "days": days},
    )
    if loan is None:
        raise authz.refuse(
            Conflict("this item is not out on loan", code="item_not_on_loan"),
            v,
            caller,
            Action.ITEM_RENEW,
            resource=resource,
        )
    if not renewable(loan):
        raise authz.refuse(
            Conflict("a loan may be renewed once", code="renewal_limit"),
            v,
            caller,
            Action.ITEM_RENEW,
            resource=resource,
        )
    if waiting_requests(db, record, loan.borrower_id, utcnow()):
        raise authz.refuse(
            Conflict("someone else is waiting for this item", code="item_requested"),
            v,
            caller,
            Action.ITEM_RENEW,
            resource=resource,
        )
    loan.renewals += 1
    loan.due_at = loan.due_at + timedelta(days=days)
    loan.reminders_sent = 0  # the reminder cycle starts again for the new due date
    return loan


def loans(
    v: Vault,
    db: Session,
    caller: Caller,
    *,
    overdue_only: bool = False,
    open_only: bool = True,
    now: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Loan]:
    """Loans, soonest due first, e.g. the overdue list (custodians, auditors, admins)."""
    require(v, db, caller, Action.ITEM_READ)
    now = now or utcnow()
    stmt = select(Loan).order_by(Loan.due_at, Loan.id)
    if open_only or overdue_only:
        stmt = stmt.where(Loan.returned_at.is_(None))
    if overdue_only:
        stmt = stmt.where(Loan.due_at <= now)
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def history(v: Vault, db: Session, caller: Caller, item_id: int) -> list[ItemLocation]:
    """Where an item has been, oldest first."""
    require(v, db, caller, Action.ITEM_READ)
    get_item(db, item_id)
    return list(
        db.scalars(
            select(ItemLocation).where(ItemLocation.item_id == item_id).order_by(ItemLocation.id)
        )
    )


def _stage(v: Vault, loan: Loan, now: datetime) -> int:
    """How many reminders a loan should have had by ``now``: 1 due soon, 2 due, 3 a week late."""
    if now >= loan.due_at + timedelta(days=FINAL_REMINDER_DAYS):
        return 3
    if now >= loan.due_at:
        return 2
    if now >= loan.due_at - timedelta(days=v.config.loan_due_soon_days):
        return 1
    return 0


@dataclass(frozen=True)
class Reminder:
    """One reminder sent."""

    loan: Loan
    number: int
    overdue: bool


def send_reminders(
    v: Vault, db: Session, caller: Caller, now: datetime | None = None
) -> list[Reminder]:
    """Send the reminders now due (run from cron: ``archive-vault loans remind``).

    Each loan gets at most one reminder per run, numbered first, second and third;
    in the app always, and by e-mail when SMTP is configured. The third also tells
    the custodian who lent it. Audited, without content.
    """
    require(v, db, caller, Action.ITEM_REMIND)
    now = now or utcnow()
    sent = []
    for loan in list(db.scalars(select(Loan).where(Loan.returned_at.is_(None)).order_by(Loan.id))):
        if loan.reminders_sent >= min(_stage(v, loan, now), 3):
            continue
        number = loan.reminders_sent + 1
        overdue = now >= loan.due_at
        record = db.get(Record, loan.record_id)
        borrower = db.get(Person, loan.borrower_id)
        assert record is not None and borrower is not None
        when = f"{loan.due_at:%Y-%m-%d %H:%M} UTC"
        subject = f"{ORDINALS[number]} reminder: {loan.item.label} ({record.file_number}) " + (
            f"was due {when}" if overdue else f"is due {when}"
        )
        body = f"{subject}.\nPlease bring it back to the archive" + (
            " now." if overdue else " by then, or ask the custodian to renew it."
        )
        values: notifications.Params = {
            "number": number,
            "label": loan.item.label,
            "file_number": record.file_number,
            "when": f"{loan.due_at:%Y-%m-%d %H:%M}",
            "overdue": int(overdue),
        }
        notifications.send(
            v,
            db,
            borrower,
            "loan_reminder",
            subject,
            body,
            link=f"/items/{loan.item_id}",
            params=values,
        )
        if number == 3:
            lender = db.get(Person, loan.lent_by_id)
            if lender is not None:
                notifications.send(
                    v,
                    db,
                    lender,
                    "loan_overdue",
                    subject,
                    f"{borrower.email} has not returned it.",
                    link=f"/items/{loan.item_id}",
                    params={**values, "borrower": borrower.email},
                )
        loan.reminders_sent = number
        loan.last_reminder_at = now
        auditing.record(
            v,
            db,
            caller,
            Action.ITEM_REMIND,
            resource={
                "record": record.id,
                "client": record.client_id,
                "item": loan.item_id,
                "person": borrower.id,
            },
            details={"loan": loan.id, "number": number, "overdue": overdue},
        )
        sent.append(Reminder(loan, number, overdue))
    return sent
