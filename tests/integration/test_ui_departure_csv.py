"""Issue 13 point 8: the departure report's "Download CSV" link, served by a page route
with the page's authorization, recorded like other exports, formula-injection safe."""

from __future__ import annotations

import csv
import io

from tests.webclient import error_code, events, text_of
from vault.people import departures


def html(resp) -> str:
    return resp.get_data(as_text=True)


# ---- the departure report's CSV -------------------------------------------------------------


def test_the_departure_report_downloads_as_safe_csv_and_is_recorded(web, make, vault, db):
    leaver = make.person()
    client = make.client("general", name='=HYPERLINK("http://evil.test","x")')
    record = make.record(client, by=leaver)
    auditor = make.person(roles=("employee", "auditor"))
    web.sign_in(auditor)
    page = html(web.get(f"/admin/people/{leaver.id}/departure-report"))
    assert f'href="/admin/people/{leaver.id}/departure-report.csv"' in page
    assert "record:deposit" not in text_of(page) and "Deposit a record" in page
    resp = web.get(f"/admin/people/{leaver.id}/departure-report.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    body = resp.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert list(rows[0]) == list(departures.CSV_COLUMNS)
    mine = [r for r in rows if r["record_id"] == str(record.id)]
    assert [r["action"] for r in mine] == ["record:deposit"]
    assert mine[0]["file_number"] == record.file_number
    assert mine[0]["client_code"] == client.code and mine[0]["tier"] == "general"
    # Formula-injection safe: the client's name is text, not a formula.
    assert mine[0]["client_name"] == "'" + client.name
    assert "secret terms" not in body
    exported = events(vault, action="report:departure", person_id=auditor.id)
    assert exported[-1].details.get("format") == "csv"
    assert exported[-1].details["rows"] == len([r for r in rows if r["record_id"]])


def test_the_departure_csv_is_refused_like_the_page(web, make, vault):
    leaver = make.person()
    person = make.person()
    web.sign_in(person)
    resp = web.get(f"/admin/people/{leaver.id}/departure-report.csv")
    assert resp.status_code == 403 and error_code(resp) == "role_required"
    assert events(vault, action="report:departure", person_id=person.id)[-1].decision == "deny"


def test_the_departure_report_and_its_link_in_chinese(web, make):
    leaver = make.person()
    make.record(make.client("general"), by=leaver)
    chinese = web.another(lang="zh")
    chinese.sign_in(make.person(roles=("employee", "auditor")))
    page = html(chinese.get(f"/admin/people/{leaver.id}/departure-report"))
    assert "下载 CSV" in page and "record:deposit" not in text_of(page)
    resp = chinese.get(f"/admin/people/{leaver.id}/departure-report.csv")
    assert resp.status_code == 200 and "record:deposit" in resp.get_data(as_text=True)
