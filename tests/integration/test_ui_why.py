"""Issue 13 point 8: "why can't I / why can they" explained on a page, and the departure
report's CSV download, in both languages."""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.webclient import error_code, events, text_of
from vault import uow
from vault.caller import Caller
from vault.people import departures

CANARY = "CANARY-why-机密-41"


def html(resp) -> str:
    return resp.get_data(as_text=True)


def _answer(page: str) -> str:
    found = re.search(r'<section class="panel" id="why-answer">(.*?)</section>', page, re.S)
    assert found, page[:2000]
    return text_of(found.group(1))


# ---- why can't I --------------------------------------------------------------------------


def test_a_refused_consultation_links_to_why_and_the_answer_says_ask_for_a_grant(web, make, vault):
    record = make.record(make.client("general"), content=CANARY.encode())
    person = make.person()
    web.sign_in(person)
    refused = web.post(f"/records/{record.id}/consult", {"purpose": "check the terms"})
    assert refused.status_code == 403 and error_code(refused) == "no_grant"
    link = re.search(r'href="([^"]+)" id="why-link"', html(refused))
    assert link, html(refused)
    url = link.group(1).replace("&amp;", "&")
    assert url == f"/why?action=record:consult&record={record.id}"
    page = web.get(url)
    assert page.status_code == 200
    answer = _answer(html(page))
    assert "Denied" in answer and "Only designated custodians" in answer
    assert "none" in answer  # no grant held
    assert "Ask a custodian of this tier for a temporary grant that includes: Consult" in answer
    assert f"/requests/new?record={record.id}&amp;actions=consult" in html(page)
    assert record.file_number in answer and CANARY not in html(page)
    # The question is recorded with its answer; nothing was consulted.
    asked = events(vault, action="policy:why", person_id=person.id)[-1]
    assert asked.decision == "allow"
    assert asked.details["asked"] == "record:consult" and asked.details["answer"] == "deny"
    assert asked.details["because"] == "no_grant" and asked.details["is_self"] is True
    assert [e.decision for e in events(vault, action="record:consult")] == ["deny"]


def test_a_refused_copy_links_to_why_copy(web, make):
    record = make.record(make.client("general"))
    person = make.person()
    make.grant(person, record)
    web.sign_in(person)
    refused = web.post(f"/records/{record.id}/copy", {"purpose": "for the customer"})
    assert refused.status_code == 403 and error_code(refused) == "grant_does_not_cover_copy"
    assert f"/why?action=record:copy&amp;record={record.id}" in html(refused)
    answer = _answer(html(web.get(f"/why?action=record:copy&record={record.id}")))
    assert "does not include making a copy" in answer
    assert "Consult" in answer  # the grant held, and what it covers
    assert "temporary grant that includes: Copy" in answer


def test_tenure_too_short_says_how_many_days_to_wait(web, make, vault):
    record = make.record(make.client("core"))
    junior = make.custodian("core", years=4)
    web.sign_in(junior)
    page = web.get(f"/why?action=record:consult&record={record.id}")
    answer = _answer(html(page))
    minimum = vault.policy.minimum_days("core")
    served = (date.today() - junior.hired_on).days
    assert f"{served} days served; custody of this tier needs {minimum}" in answer
    assert f"Serve {minimum - served} more days" in answer
    assert "Core" in answer


def test_allowed_with_a_grant_shows_the_grant_and_when_it_ends(web, make):
    record = make.record(make.client("general"))
    person = make.person()
    grant = make.grant(person, record, actions=("consult", "copy"))
    web.sign_in(person)
    answer = _answer(html(web.get(f"/why?action=record:consult&record={record.id}")))
    assert "Allowed" in answer and "with a grant" in answer
    assert f"#{grant.id}" in answer and "It lasts until the grant ends" in answer
    assert "0 of 20 records in the last hour, 0 of 60 in the last day" in answer
    assert "permit-grant-consult" in answer


def test_an_auditor_is_told_separation_of_duties(web, make):
    record = make.record(make.client("general"))
    web.sign_in(make.person(roles=("employee", "auditor")))
    answer = _answer(html(web.get(f"/why?action=record:consult&record={record.id}")))
    assert "Auditors read the audit log, never record content." in answer
    assert "separation of duties" in answer


# ---- why can they --------------------------------------------------------------------------


def test_an_auditor_asks_about_someone_else_and_it_is_recorded(web, make, vault):
    record = make.record(make.client("general"))
    custodian = make.custodian("general")
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    form = html(web.get("/why"))
    assert 'name="person"' in form
    page = web.get(f"/why?action=record:consult&record={record.id}&person={custodian.email}")
    assert page.status_code == 200
    answer = _answer(html(page))
    assert f"Can {custodian.name}: Consult a record?" in answer
    assert "Allowed" in answer and "as a custodian" in answer
    assert "Custody is in effect" in answer
    assert "/requests/new" not in html(page)  # asking for a grant is the person's own act
    asked = events(vault, action="policy:why", person_id=auditor.id)[-1]
    assert asked.details["is_self"] is False and asked.details["answer"] == "allow"
    assert asked.resource.get("person") == str(custodian.id)


def test_an_employee_cannot_ask_about_someone_else_and_learns_nothing(web, make, vault):
    record = make.record(make.client("general"))
    other = make.custodian("general")
    person = make.person()
    web.sign_in(person)
    assert 'name="person"' not in html(web.get("/why"))
    for about in (other.email, "nobody@example.test", str(other.id)):
        page = web.get(f"/why?action=record:consult&record={record.id}&person={about}")
        assert page.status_code == 403 and error_code(page) == "not_own_question"
        assert 'id="why-answer"' not in html(page) and other.name not in html(page)
    refusals = events(vault, action="policy:why", person_id=person.id)
    assert [e.decision for e in refusals] == ["deny"] * 3


def test_no_record_no_answer_and_bad_input_is_a_stable_code(web, make):
    web.sign_in(make.person())
    missing = web.get("/why?action=record:consult&record=999999")
    assert missing.status_code == 404 and error_code(missing) == "record_not_found"
    bad = web.get("/why?action=audit:read&record=1")
    assert bad.status_code == 400 and error_code(bad) == "invalid_action"
    bad = web.get("/why?action=record:consult&record=twelve")
    assert bad.status_code == 400 and error_code(bad) == "invalid_record"


def test_an_admin_asks_about_a_departing_person(web, make, vault, db):
    record = make.record(make.client("general"))
    leaver = make.custodian("general")
    admin = make.admin()
    db.commit()
    uow.run(
        db,
        departures.set_departure,
        vault,
        db,
        Caller(person=admin),
        leaver,
        date.today() + timedelta(days=10),
    )
    web.sign_in(admin)
    page = web.get(f"/why?action=record:copy&record={record.id}&person={leaver.id}")
    answer = _answer(html(page))
    assert "Denied" in answer and "Nothing: a leaving date is set" in answer
    assert "forbid-departing" in answer


def test_the_why_page_in_chinese(web, make):
    record = make.record(make.client("general"))
    chinese = web.another(lang="zh-CN,zh;q=0.9")
    chinese.sign_in(make.person())
    refused = chinese.post(f"/records/{record.id}/consult", {"purpose": "核对付款条件"})
    assert "查看此决定所依据的事实" in html(refused)
    page = html(chinese.get(f"/why?action=record:consult&record={record.id}"))
    assert '<html lang="zh-Hans">' in page
    answer = _answer(page)
    assert "拒绝" in answer and "向此分类的档案管理员申请包含以下行为的临时授权" in answer
    assert "no_grant" not in answer and "record:consult" not in answer
