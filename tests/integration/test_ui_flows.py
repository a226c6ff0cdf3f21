"""The pages' work, as each role sees it: catalogue, deposit, reading room, audit, admin."""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import date, timedelta

from sqlalchemy import func, select

from tests.webclient import error_code, events, text_of
from vault import proposals
from vault.archive import records
from vault.caller import Caller
from vault.models import Person, Record

CANARY = "CANARY-机密-reading-room-7Q"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def html(resp) -> str:
    return resp.get_data(as_text=True)


# ---- catalogue ----------------------------------------------------------------------------


def test_the_catalogue_shows_metadata_only_and_pages_under_the_hard_cap(
    web, make, vault, monkeypatch
):
    client = make.client("core", name="Canary Holdings")
    depositor = make.person()
    for n in range(12):
        make.record(client, content=f"{CANARY} {n}".encode(), by=depositor)
    monkeypatch.setattr(vault, "config", vault.config.with_(page_size_max=5))
    web.sign_in(make.person())
    first = web.get(f"/catalogue?client={client.id}")
    assert first.status_code == 200
    rows = re.findall(r'href="/records/(\d+)"', html(first))
    assert len(rows) == 5  # the vault's hard cap, whatever the page asks for
    assert 'rel="next"' in html(first) and CANARY not in html(first)
    third = web.get(f"/catalogue?client={client.id}&page=3")
    assert len(re.findall(r'href="/records/(\d+)"', html(third))) == 2
    assert 'rel="next"' not in html(third) and 'rel="prev"' in html(third)
    card = web.get(f"/records/{rows[0]}")
    assert "Canary Holdings" in html(card) and CANARY not in html(card)
    assert card.headers["Cache-Control"] == "no-store"


def test_catalogue_filters_and_bad_input(web, make):
    client = make.client()
    make.record(client, section="credit")
    make.record(client, section="returns")
    web.sign_in(make.person())
    credit = web.get(f"/catalogue?client={client.id}&section=credit")
    assert html(credit).count('href="/records/') == 1
    for query, code in (
        ("section=secret", "invalid_section"),
        ("year=abc", "invalid_year"),
        ("page=0", "invalid_page"),
        ("client=x", "invalid_client_id"),
    ):
        resp = web.get(f"/catalogue?{query}")
        assert resp.status_code == 400, query
        assert error_code(resp) == code


def test_the_client_list(web, make):
    make.client("special", name="City Office", code="CITY1")
    web.sign_in(make.person())
    page = html(web.get("/clients?q=City"))
    assert "CITY1" in page and "Special" in page


# ---- deposit ------------------------------------------------------------------------------


def test_deposit_files_the_record_and_the_depositor_cannot_read_it_back(web, make, vault, db):
    client = make.client("general", code="DEPO")
    sales = make.person()
    web.sign_in(sales)
    form = web.get(f"/deposit?client={client.id}")
    assert f'<option value="{client.id}" selected>' in html(form)
    resp = web.post(
        "/deposit",
        {
            "client_id": client.id,
            "section": "credit",
            "title": "Credit report Q4",
            "valid_until": (date.today() + timedelta(days=120)).isoformat(),
            "content": CANARY,
            "file": (io.BytesIO(b"%PDF scan"), "scan.pdf", "application/pdf"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, (error_code(resp), html(resp)[:3000])
    record = db.scalar(select(Record).where(Record.client_id == client.id))
    assert resp.headers["Location"] == f"/records/{record.id}"
    card = web.get(resp.headers["Location"])
    assert record.file_number in html(card) and "scan.pdf" in html(card)
    assert "you need a grant to read it" in html(card)
    refused = web.post(f"/records/{record.id}/consult", {"purpose": "check my work"})
    assert refused.status_code == 403 and error_code(refused) == "no_grant"
    assert CANARY not in html(refused)
    deposits = events(vault, action="record:deposit", person_id=sales.id)
    attached = events(vault, action="record:attach", person_id=sales.id)
    assert len(deposits) == 1 and len(attached) == 1  # the record and its attached file


def test_bad_deposits_change_nothing_and_say_why(web, make, db):
    client = make.client()
    web.sign_in(make.person())
    cases = [
        ({"section": "basic", "title": "T", "content": "x"}, "missing_client_id"),
        (
            {"client_id": client.id, "section": "secret", "title": "T", "content": "x"},
            "invalid_section",
        ),
        (
            {"client_id": client.id, "section": "basic", "title": " ", "content": "x"},
            "invalid_title",
        ),
        ({"client_id": client.id, "section": "basic", "title": "T"}, "missing_content"),
        (
            {
                "client_id": client.id,
                "section": "basic",
                "title": "T",
                "content": "x",
                "valid_until": "2030-01-01",
            },
            "invalid_valid_until",
        ),
        (
            {
                "client_id": client.id,
                "section": "basic",
                "title": "T",
                "content": "x",
                "doc_date": "yesterday",
            },
            "invalid_doc_date",
        ),
        (
            {"client_id": 999999, "section": "basic", "title": "T", "content": "x"},
            "client_not_found",
        ),
    ]
    for data, code in cases:
        resp = web.post("/deposit", data)
        assert resp.status_code in (400, 404), code
        assert error_code(resp) == code
        assert 'name="title"' in html(resp)  # the form again, not a dead end
    assert db.scalar(select(func.count()).select_from(Record)) == 0


# ---- reading room -------------------------------------------------------------------------


def test_the_reading_room_asks_a_purpose_then_shows_content_under_the_readers_name(
    web, make, vault
):
    custodian = make.custodian()
    record = make.record(make.client("core"), content=CANARY.encode())
    web.sign_in(custodian)
    ask = web.get(f"/records/{record.id}/consult")
    assert 'name="purpose"' in html(ask) and CANARY not in html(ask)
    no_purpose = web.post(f"/records/{record.id}/consult", {"purpose": " "})
    assert no_purpose.status_code == 400 and error_code(no_purpose) == "purpose_required"
    assert CANARY not in html(no_purpose)
    shown = web.post(f"/records/{record.id}/consult", {"purpose": "renew payment terms"})
    assert shown.status_code == 200
    page = html(shown)
    assert CANARY in page
    assert shown.headers["Cache-Control"] == "no-store"
    overlay = re.search(r'<div class="watermark"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert custodian.name in overlay and custodian.email in overlay and "UTC" in overlay
    assert "download" not in page.lower() and "/content" not in page
    consult = events(vault, action="record:consult", person_id=custodian.id)
    assert [(e.decision, e.purpose) for e in consult] == [("allow", "renew payment terms")]
    assert consult[0].id in page


def test_image_records_show_inline_and_other_kinds_do_not_leak(web, make, vault, db):
    custodian = make.custodian()
    client = make.client()
    image = records.deposit(
        vault,
        db,
        Caller(person=make.person()),
        records.Deposit(
            client_id=client.id,
            section="basic",
            title="Site photo",
            content=PNG,
            content_type="image/png",
        ),
    )
    binary = records.deposit(
        vault,
        db,
        Caller(person=make.person()),
        records.Deposit(
            client_id=client.id,
            section="basic",
            title="Spreadsheet",
            content=b"PK\x03\x04xx",
            content_type="application/vnd.ms-excel",
        ),
    )
    web.sign_in(custodian)
    shown = html(web.post(f"/records/{image.id}/consult", {"purpose": "check the site"}))
    assert 'src="data:image/png;base64,' in shown
    other = html(web.post(f"/records/{binary.id}/consult", {"purpose": "check the sheet"}))
    assert "cannot be shown in the reading room" in other


def test_auditors_and_strangers_are_refused_content_with_the_reason(web, make, vault):
    record = make.record(make.client("core"), content=CANARY.encode())
    for person, code in (
        (make.person(roles=("employee", "auditor")), "auditor_no_content"),
        (make.person(), "no_grant"),
        (make.custodian("general"), "tier_out_of_scope"),
        (make.custodian(years=1), "tenure_too_short"),
    ):
        browser = web.another()
        browser.sign_in(person)
        resp = browser.post(f"/records/{record.id}/consult", {"purpose": "just looking"})
        assert resp.status_code == 403 and error_code(resp) == code
        assert CANARY not in html(resp)
    missing = browser.post("/records/99999/consult", {"purpose": "just looking"})
    assert missing.status_code == 404 and error_code(missing) == "record_not_found"


# ---- audit ----------------------------------------------------------------------------------


def _auditor(web, make):
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    return auditor


def test_the_audit_log_filters_by_person_action_decision_record_and_time(web, make, vault):
    record = make.record(content=CANARY.encode())
    stranger = make.person()
    other = web.another()
    other.sign_in(stranger)
    other.post(f"/records/{record.id}/consult", {"purpose": "curious"})
    _auditor(web, make)
    page = web.get(f"/audit?person={stranger.email}&action=record:consult&decision=deny")
    rows = re.findall(r'<tr class="decision-(\w+)">', html(page))
    assert rows == ["deny"]
    assert "Only designated custodians, or holders of an approved grant" in html(page)
    assert CANARY not in html(page)
    by_record = html(web.get(f"/audit?record={record.id}"))
    assert "<td>Deposit a record</td>" in by_record and "<td>Consult a record</td>" in by_record
    by_client = html(web.get(f"/audit?client={record.client_id}&action=record:deposit"))
    assert by_client.count('<tr class="decision-') == 1
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert "No event matches." in html(web.get(f"/audit?since={tomorrow}"))
    assert '<tr class="decision-' in html(web.get(f"/audit?until={tomorrow}"))
    for query, code in (
        ("person=nobody@example.test", "invalid_person"),
        ("action=record:steal", "invalid_action"),
        ("decision=maybe", "invalid_decision"),
        ("record=abc", "invalid_record"),
        ("since=last-week", "invalid_since"),
    ):
        resp = web.get(f"/audit?{query}")
        assert resp.status_code == 400 and error_code(resp) == code, query


def test_the_audit_log_pages_forward(web, make, vault):
    for _ in range(3):
        make.record()
    _auditor(web, make)
    from vault.web.ui import auditing

    auditing.PAGE_SIZE, saved = 2, auditing.PAGE_SIZE
    try:
        first = html(web.get("/audit"))
        later = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
        assert "before=" in later  # newest first: the next page holds earlier events
        assert web.get(later).status_code == 200
    finally:
        auditing.PAGE_SIZE = saved


def test_an_events_detail_and_the_verify_page(web, make, vault):
    record = make.record()
    _auditor(web, make)
    seq = 1
    detail = web.get(f"/audit/events/{seq}")
    assert detail.status_code == 200 and 'id="event-detail"' in html(detail)
    missing = web.get("/audit/events/999999")
    assert missing.status_code == 404 and error_code(missing) == "event_not_found"
    verify = html(web.get("/audit/verify"))
    assert 'class="verdict ok"' in verify
    assert record.file_number not in verify


def test_the_csv_export_holds_the_log_never_content_and_is_recorded(web, make, vault, db):
    client = make.client(name="=HYPERLINK(evil)")
    record = make.record(client, content=CANARY.encode())
    custodian = make.custodian()
    reader = web.another()
    reader.sign_in(custodian)
    reader.post(f"/records/{record.id}/consult", {"purpose": "=cmd|'/c calc'!A1"})
    auditor = _auditor(web, make)
    resp = web.get(f"/audit/export.csv?record={record.id}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    body = resp.get_data(as_text=True)
    assert CANARY not in body
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert {r["action"] for r in rows} == {"record:deposit", "record:consult"}
    consult = next(r for r in rows if r["action"] == "record:consult")
    assert consult["purpose"] == "'=cmd|'/c calc'!A1"  # a spreadsheet will not run it
    exports = events(vault, action="audit:export", person_id=auditor.id)
    assert [e.details for e in exports] == [{"record": str(record.id)}]


# ---- administration -----------------------------------------------------------------------


def _admin(web, make):
    admin = make.admin()
    web.sign_in(admin)
    return admin


def test_admins_add_people_and_duplicates_are_refused(web, make, db):
    _admin(web, make)
    data = {
        "email": "Ning@Example.test",
        "name": "Ning",
        "hired_on": "2015-05-01",
        "roles": ["auditor", "custodian"],
    }
    resp = web.post("/admin/people/new", data)
    assert resp.status_code == 302
    person = db.scalar(select(Person).where(Person.email == "ning@example.test"))
    # Custodian is never a role; auditor waits for a second admin, and so does the hire date.
    assert person.role_set == {"employee"} and not person.hire_date_confirmed
    assert resp.headers["Location"] == f"/admin/people/{person.id}"
    shown = html(web.get(resp.headers["Location"]))
    assert "Hire date confirmation" in shown and "Role: Auditor" in shown
    again = web.post("/admin/people/new", data)
    assert again.status_code == 409 and error_code(again) == "person_exists"
    bad = web.post("/admin/people/new", {**data, "email": "not-an-email"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_email"
    future = web.post(
        "/admin/people/new", {**data, "email": "f@example.test", "hired_on": "2999-01-01"}
    )
    assert error_code(future) == "invalid_hire_date"
    listed = html(web.get("/admin/people?q=ning"))
    assert "ning@example.test" in listed


def test_admins_designate_others_but_never_themselves(web, make, vault, db):
    admin = _admin(web, make)
    person = make.person(years=6)
    reason = "keeps these clients"
    ok = web.post(
        f"/admin/people/{person.id}/designations",
        {"tiers": ["core", "special"], "reason": reason},
    )
    assert ok.status_code == 302
    assert "a second administrator approves it" in html(web.get(ok.headers["Location"]))
    db.commit()
    db.refresh(person)
    assert person.custodian_tiers() == frozenset()  # proposed, not in force
    (proposal,) = proposals.pending(db, kind="designation")
    db.commit()
    make.approve(proposal.id, make.second_admin())
    db.refresh(person)
    assert person.custodian_tiers() == {"core", "special"}
    assert person.name in html(web.get("/admin/designations"))
    self_ = web.post(
        f"/admin/people/{admin.id}/designations", {"tiers": ["core"], "reason": reason}
    )
    assert self_.status_code == 403 and error_code(self_) == "self_designation"
    none = web.post(f"/admin/people/{person.id}/designations", {"reason": reason})
    assert none.status_code == 400 and error_code(none) == "invalid_tier"


def test_the_key_page_shows_ids_never_key_material(web, make, vault):
    _admin(web, make)
    make.record()
    page = html(web.get("/admin/keys"))
    assert vault.keys.active_key_id in page
    keyring = vault.config.keyring.read_text()
    for secret in re.findall(r'"([A-Za-z0-9+/=]{40,})"', keyring):
        assert secret not in page
    assert events(vault, action="key:status")


def test_setting_a_leaving_date_ends_a_live_session_at_once(web, make, vault, db):
    leaver = make.custodian()
    record = make.record()
    theirs = web.another()
    theirs.sign_in(leaver)
    assert theirs.post(f"/records/{record.id}/consult", {"purpose": "before"}).status_code == 200
    admin_browser = web.another()
    admin_browser.sign_in(make.admin())
    day = (date.today() + timedelta(days=14)).isoformat()
    set_ = admin_browser.post(f"/admin/people/{leaver.id}/departure", {"leaving_on": day})
    assert set_.status_code == 302
    # Their session ended with the departure: the page sends them to sign in again,
    # and signing in is refused (person_departing, in test_auth_local.py).
    after = theirs.post(f"/records/{record.id}/consult", {"purpose": "after"}, csrf=False)
    assert after.status_code == 401 and error_code(after) == "unauthenticated"
    assert theirs.get("/catalogue").headers["Location"].startswith("/auth/login")
    report = html(admin_browser.get(f"/admin/people/{leaver.id}/departure-report"))
    assert record.file_number in report
    bad = admin_browser.post(f"/admin/people/{leaver.id}/departure", {"leaving_on": "soon"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_leaving_on"


def test_people_pages_only_offer_the_forms_a_role_may_use(web, make):
    auditor = make.person(roles=("employee", "auditor"))
    person = make.person()
    web.sign_in(auditor)
    page = html(web.get(f"/admin/people/{person.id}"))
    assert person.email in page
    assert f"/admin/people/{person.id}/designations" not in page
    assert f"/admin/people/{person.id}/tokens" not in page
    assert f"/admin/people/{person.id}/departure-report" in page


# ---- language ------------------------------------------------------------------------------


def test_the_language_follows_the_browser_and_the_switch(web, make):
    web.sign_in(make.person())
    english = html(web.get("/catalogue"))
    assert '<html lang="en">' in english and "<h1>Catalogue</h1>" in english
    chinese = html(web.get("/catalogue", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}))
    assert '<html lang="zh-Hans">' in chinese and "<h1>档案目录</h1>" in chinese
    switch = re.search(r'href="([^"]+)"[^>]*id="lang-zh_Hans"', english).group(1)
    back = web.get(switch.replace("&amp;", "&"))
    assert back.status_code == 302 and back.headers["Location"] == "/catalogue"
    assert "<h1>档案目录</h1>" in html(web.get("/catalogue"))  # the cookie now decides
    assert "<h1>Catalogue</h1>" in html(web.get("/lang/en?next=/catalogue", follow_redirects=True))
    unknown = web.get("/lang/fr")
    assert unknown.status_code == 404 and error_code(unknown) == "unknown_language"


def test_error_pages_speak_the_readers_language(web, make):
    web.sign_in(make.person())
    page = web.get("/records/99999", headers={"Accept-Language": "zh"})
    assert page.status_code == 404
    assert "没有这份档案。" in text_of(html(page)) and error_code(page) == "record_not_found"
