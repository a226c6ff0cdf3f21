"""The custodian's pages: files in care and their review, items, lending, return, overdue."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from tests.webclient import error_code, events
from vault.archive import records
from vault.caller import Caller
from vault.models import Item, Loan


def html(resp) -> str:
    return resp.get_data(as_text=True)


def test_files_in_care_by_tier_with_reviews_and_stale_credit_reports(web, make, vault, db):
    general = make.client("general", code="GENCO")
    core = make.client("core", code="CORECO")
    stale = records.deposit(
        vault,
        db,
        Caller(person=make.person()),
        records.Deposit(
            client_id=general.id,
            section="credit",
            title="Old credit report",
            content=b"x",
            year=2020,
            doc_date=date(2020, 1, 1),
            valid_until=date(2020, 6, 1),
        ),
    )
    custodian = make.custodian("general")
    web.sign_in(custodian)
    page = html(web.get("/custody/files"))
    assert "GENCO" in page and "CORECO" not in page  # only the tiers in their care
    assert stale.file_number in page
    done = web.post(f"/custody/files/{general.id}/reviewed")
    assert done.status_code == 302
    assert "Review recorded" in html(web.get(done.headers["Location"]))
    reviews = events(vault, action="client:review", person_id=custodian.id)
    assert [(e.decision, e.resource["client"]) for e in reviews] == [("allow", str(general.id))]
    refused = web.post(f"/custody/files/{core.id}/reviewed")
    assert refused.status_code == 403 and error_code(refused) == "tier_out_of_scope"


def test_register_lend_renew_and_take_back_an_item(web, make, vault, db):
    record = make.record(make.client("general"))
    custodian, borrower = make.custodian("general"), make.custodian("general")
    web.sign_in(custodian)
    card = html(web.get(f"/records/{record.id}"))
    assert 'id="items"' in card and "No physical item" in card
    added = web.post(
        f"/records/{record.id}/items",
        {"kind": "folder", "label": "Folder 2024", "location": "Room 3, shelf B"},
    )
    assert added.status_code == 302
    item = db.scalar(select(Item).where(Item.record_id == record.id))
    lent = web.post(
        f"/custody/items/{item.id}/checkout",
        {"borrower": borrower.email, "pages": "40", "purpose": "year-end audit"},
    )
    assert lent.status_code == 302
    assert "Lent to" in html(web.get(lent.headers["Location"]))
    again = web.post(
        f"/custody/items/{item.id}/checkout",
        {"borrower": borrower.email, "pages": "40", "purpose": "year-end audit"},
    )
    assert again.status_code == 409 and error_code(again) == "item_on_loan"
    loans = html(web.get("/custody/loans"))
    assert "Folder 2024" in loans and borrower.name in loans
    assert "Renewed until" in html(
        web.post(f"/custody/items/{item.id}/renew", follow_redirects=True)
    )
    twice = web.post(f"/custody/items/{item.id}/renew")
    assert twice.status_code == 409 and error_code(twice) == "renewal_limit"
    back = web.post(
        f"/custody/items/{item.id}/checkin",
        {"pages": "38", "condition": "worn"},
        follow_redirects=True,
    )
    assert "38 pages instead of 40" in html(back)
    db.rollback()
    loan = db.scalar(select(Loan).where(Loan.item_id == item.id))
    assert loan.returned_at is not None and loan.pages_mismatch and loan.condition == "worn"
    assert {e.action for e in events(vault, record=str(record.id))} >= {
        "item:create",
        "item:checkout",
        "item:borrow",
        "item:renew",
        "item:checkin",
    }


def test_lending_to_someone_without_a_right_to_borrow_is_refused(web, make, db):
    record = make.record(make.client("general"))
    custodian, stranger = make.custodian("general"), make.person()
    web.sign_in(custodian)
    web.post(f"/records/{record.id}/items", {"kind": "box", "label": "B1", "location": "R1"})
    item = db.scalar(select(Item))
    refused = web.post(
        f"/custody/items/{item.id}/checkout",
        {"borrower": stranger.email, "pages": "5", "purpose": "take home"},
    )
    assert refused.status_code == 403 and error_code(refused) == "no_grant"
    assert 'id="items"' in html(refused)  # the card again, with the reason
    unknown = web.post(
        f"/custody/items/{item.id}/checkout",
        {"borrower": "nobody@example.test", "pages": "5", "purpose": "x y z"},
    )
    assert unknown.status_code == 404 and error_code(unknown) == "person_not_found"
    bad = web.post(f"/records/{record.id}/items", {"kind": "crate", "label": "C", "location": "R"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_kind"


def test_overdue_loans_are_flagged(web, make, vault, db):
    record = make.record(make.client("general"))
    custodian, borrower = make.custodian("general"), make.custodian("general")
    web.sign_in(custodian)
    web.post(
        f"/records/{record.id}/items", {"kind": "folder", "label": "Late one", "location": "R1"}
    )
    item = db.scalar(select(Item))
    web.post(
        f"/custody/items/{item.id}/checkout",
        {"borrower": borrower.email, "pages": "3", "purpose": "check figures"},
    )
    db.rollback()
    loan = db.scalar(select(Loan))
    loan.due_at = loan.due_at - timedelta(days=60)
    db.commit()
    overdue = html(web.get("/custody/loans?overdue=1"))
    assert "Late one" in overdue and "overdue" in overdue
