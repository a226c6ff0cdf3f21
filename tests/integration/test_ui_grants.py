"""Temporary access through the pages: ask, decide, consult within the grant, revoke; alerts."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.webclient import error_code, events, text_of
from vault import uow
from vault.models import AccessRequest, Grant, Notification, Person
from vault.oversight import notifications

CANARY = "CANARY-grant-Terms-81"


def html(resp) -> str:
    return resp.get_data(as_text=True)


def ask(browser, record, reason="renew the payment terms with them", **extra):
    return browser.post("/requests", {"record": record.id, "reason": reason, "hours": "4", **extra})


def test_ask_approve_consult_within_the_grant(web, make, vault, db):
    record = make.record(make.client("general"), content=CANARY.encode())
    sales, custodian = make.person(), make.custodian("general")
    employee = web.another()
    employee.sign_in(sales)
    card = html(employee.get(f"/records/{record.id}"))
    assert f'href="/requests/new?record={record.id}"' in card
    form = html(employee.get(f"/requests/new?record={record.id}"))
    assert record.file_number in form and 'name="reason"' in form
    filed = ask(employee, record)
    assert filed.status_code == 302
    req = db.scalar(select(AccessRequest).where(AccessRequest.requester_id == sales.id))
    assert filed.headers["Location"] == f"/requests/{req.id}"
    assert "Waiting for a decision" in html(employee.get(filed.headers["Location"]))
    assert "Waiting for a decision" in html(employee.get("/requests"))
    # The custodian finds it waiting, reads the reason, approves.
    keeper = web.another()
    keeper.sign_in(custodian)
    waiting = html(keeper.get("/requests/waiting"))
    assert f'href="/requests/{req.id}"' in waiting and sales.name in waiting
    detail = html(keeper.get(f"/requests/{req.id}"))
    assert "renew the payment terms with them" in detail and 'id="approve-button"' in detail
    approved = keeper.post(f"/requests/{req.id}/approve", {"note": "fine"})
    assert approved.status_code == 302
    assert "the grant is issued" in html(keeper.get(approved.headers["Location"]))
    # The employee sees the grant with its time left, and consults within it.
    mine = html(employee.get("/grants"))
    assert re.search(r'<td class="time-left">\s*(3|4) hours\s*</td>', mine)
    shown = employee.post(f"/records/{record.id}/consult", {"purpose": "renew the terms"})
    assert shown.status_code == 200 and CANARY in html(shown)
    consult = events(vault, action="record:consult", person_id=sales.id)
    assert consult[-1].decision == "allow" and consult[-1].grant_id
    db.rollback()
    note = db.scalar(select(Notification).where(Notification.person_id == sales.id))
    assert note is not None and "approved" in note.subject


def test_core_requests_need_two_custodians(web, make, db):
    record = make.record(make.client("core"))
    requester = web.another()
    requester.sign_in(make.person())
    ask(requester, record)
    req = db.scalar(select(AccessRequest))
    first, second = web.another(), web.another()
    first.sign_in(make.custodian("core"))
    second.sign_in(make.custodian("core"))
    one = first.post(f"/requests/{req.id}/approve")
    assert "a second custodian must approve" in html(first.get(one.headers["Location"]))
    twice = first.post(f"/requests/{req.id}/approve")
    assert twice.status_code == 409 and error_code(twice) == "already_approved"
    assert 'id="approve-button"' not in html(first.get(f"/requests/{req.id}"))
    two = second.post(f"/requests/{req.id}/approve")
    assert "the grant is issued" in html(second.get(two.headers["Location"]))


def test_nobody_decides_their_own_request(web, make, db):
    custodian = make.custodian("general")
    record = make.record(make.client("core"))
    browser = web.another()
    browser.sign_in(custodian)
    ask(browser, record)
    req = db.scalar(select(AccessRequest))
    page = html(browser.get(f"/requests/{req.id}"))
    assert 'id="approve-button"' not in page and 'id="withdraw-button"' in page
    resp = browser.post(f"/requests/{req.id}/approve")
    assert resp.status_code == 403
    assert error_code(resp) in ("self_approval", "tier_out_of_scope")


def test_a_request_needs_a_real_reason(web, make, db):
    record = make.record()
    web.sign_in(make.person())
    for reason in ("", "because", "x" * 1001):
        resp = ask(web, record, reason=reason)
        assert resp.status_code == 400 and error_code(resp) == "missing_reason"
        assert 'name="reason"' in html(resp)
    too_long = ask(web, record, hours="1000")
    assert too_long.status_code == 400 and error_code(too_long) == "invalid_duration"
    assert db.scalar(select(AccessRequest)) is None


def test_turned_down_withdrawn_and_revoked(web, make, vault, db):
    record = make.record(content=CANARY.encode())
    sales = make.person()
    employee = web.another()
    employee.sign_in(sales)
    keeper = web.another()
    keeper.sign_in(make.custodian("general"))
    ask(employee, record)
    ask(employee, record)
    ask(employee, record)
    first, second, third = db.scalars(select(AccessRequest).order_by(AccessRequest.id)).all()
    keeper.post(f"/requests/{first.id}/deny", {"note": "use the summary instead"})
    page = html(employee.get(f"/requests/{first.id}"))
    assert "Turned down" in page and "use the summary instead" in page
    employee.post(f"/requests/{second.id}/withdraw")
    assert "Withdrawn" in html(employee.get(f"/requests/{second.id}"))
    late = keeper.post(f"/requests/{second.id}/approve")
    assert late.status_code == 409 and error_code(late) == "request_withdrawn"
    keeper.post(f"/requests/{third.id}/approve")
    db.rollback()  # a fresh read: the app committed since this session last looked
    grant = db.scalar(select(Grant).where(Grant.request_id == third.id))
    revoked = keeper.post(f"/grants/{grant.id}/revoke", {"reason": "no longer needed"})
    assert revoked.status_code == 302
    assert "Revoked" in html(employee.get("/grants"))  # the grant's status
    refused = employee.post(f"/records/{record.id}/consult", {"purpose": "one more look"})
    assert refused.status_code == 403 and error_code(refused) == "no_grant"
    assert CANARY not in html(refused)
    other = web.another()
    other.sign_in(make.person())
    hidden = other.get(f"/requests/{third.id}")
    assert hidden.status_code == 404 and error_code(hidden) == "request_not_found"


def test_auditors_see_alerts_and_clear_people_under_review(web, make, vault, db):
    watched = make.person()
    watched.under_review = True
    db.commit()
    web.sign_in(make.person(roles=("employee", "auditor")))
    page = html(web.get("/alerts"))
    assert watched.email in page
    no_note = web.post(f"/alerts/people/{watched.id}/clear", {"note": ""})
    assert no_note.status_code == 400 and error_code(no_note) == "note_required"
    cleared = web.post(f"/alerts/people/{watched.id}/clear", {"note": "checked with the boss"})
    assert cleared.status_code == 302
    db.expire_all()
    assert db.get(Person, watched.id).under_review is False
    assert "Nobody is under review." in html(web.get("/alerts"))
    again = web.post(f"/alerts/people/{watched.id}/clear", {"note": "checked again"})
    assert again.status_code == 409 and error_code(again) == "not_under_review"
    assert events(vault, action="review:clear")[-1].details == {"note": "checked with the boss"}


def test_notifications_lead_to_their_page_and_only_on_this_site(web, make, vault, db):
    person = make.person()
    good = uow.run(db, notifications.send, vault, db, person, "test", "Your grant", link="/grants")
    db.commit()
    web.sign_in(person)
    page = html(web.get("/notifications"))
    assert "Your grant" in text_of(page)
    opened = web.post(f"/notifications/{good.id}/read", {"next": "/grants"})
    assert opened.status_code == 302 and opened.headers["Location"] == "/grants"
    evil = web.post(f"/notifications/{good.id}/read", {"next": "https://evil.example/"})
    assert evil.headers["Location"] == "/notifications"
    stranger = web.another()
    stranger.sign_in(make.person())
    theirs = stranger.post(f"/notifications/{good.id}/read")
    assert theirs.status_code == 404 and error_code(theirs) == "notification_not_found"


def test_a_traceable_copy_needs_a_copy_grant_and_carries_the_readers_mark(web, make, vault, db):
    record = make.record(make.client("general"), content=CANARY.encode())
    sales = make.person()
    employee = web.another()
    employee.sign_in(sales)
    refused = employee.post(f"/records/{record.id}/copy", {"purpose": "for the customer"})
    assert refused.status_code == 403 and error_code(refused) == "no_grant"
    ask(employee, record, actions=["consult", "copy"])
    keeper = web.another()
    keeper.sign_in(make.custodian("general"))
    req = db.scalar(select(AccessRequest))
    keeper.post(f"/requests/{req.id}/approve")
    made = employee.post(f"/records/{record.id}/copy", {"purpose": "for the customer"})
    assert made.status_code == 200
    assert made.headers["Content-Disposition"].startswith("attachment;")
    assert made.headers["Cache-Control"] == "no-store"
    body = made.get_data(as_text=True)
    assert CANARY in body and sales.email in body and made.headers["X-Copy-Id"] in body
    copies = events(vault, action="record:copy", person_id=sales.id)
    assert [e.decision for e in copies] == ["deny", "allow"]
