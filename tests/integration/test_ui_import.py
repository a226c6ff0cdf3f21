"""The import page: custodians and admins send a spreadsheet and see the report per row."""

from __future__ import annotations

import csv
import io
import re

import sqlalchemy as sa

from tests.webclient import error_code, events, text_of
from vault.models import Client, Record

HEADER = ["客户编号", "客户名称", "客户级别", "档案类别", "年份", "标题", "内容"]
ROWS = [
    ["HX01", "华兴贸易", "重点", "资信", "2025", "资信调查报告", "信用等级 A"],
    ["HX01", "", "", "交易", "2025", "框架合同", "三年"],
    ["PT7", "普通七号", "一般", "退货", "2024", "退货单", "十二箱"],
]


def sheet(header: list[str], rows: list[list[str]]) -> io.BytesIO:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return io.BytesIO(out.getvalue().encode("utf-8-sig"))


def send(browser, data: io.BytesIO, name: str = "客户档案.csv", **form):
    return browser.post(
        "/import", {"file": (data, name), **form}, content_type="multipart/form-data"
    )


def counts(db) -> tuple[int, int]:
    db.rollback()
    return (
        db.scalar(sa.select(sa.func.count()).select_from(Client)),
        db.scalar(sa.select(sa.func.count()).select_from(Record)),
    )


def test_a_custodian_imports_a_chinese_sheet_and_sees_the_report(web, make, vault, db):
    custodian = make.custodian("general")
    web.sign_in(custodian)
    assert 'href="/import"' in web.get("/").get_data(as_text=True)  # in the bar
    form = web.get("/import").get_data(as_text=True)
    assert 'name="csrf_token"' in form and 'enctype="multipart/form-data"' in form
    assert "纳税人识别号" in form and "Tax ID" in form  # the accepted headers, both languages

    done = send(web, sheet(HEADER, ROWS))
    assert done.status_code == 200, done.get_data(as_text=True)[:500]
    page = text_of(done.get_data(as_text=True))
    assert "Imported 3 records (2 new clients) from 3 rows." in page
    tiers = {c.code: c.tier for c in db.scalars(sa.select(Client))}
    assert tiers == {"HX01": "core", "PT7": "general"}
    assert sorted(db.scalars(sa.select(Record.section))) == [2, 3, 4]
    deposits = events(vault, action="record:deposit", person_id=custodian.id)
    assert len(deposits) == 3  # filed as if by hand, in the custodian's name

    again = send(web, sheet(HEADER, ROWS))
    assert "Imported 0 records (0 new clients) from 3 rows." in text_of(
        again.get_data(as_text=True)
    )
    assert 'id="count-duplicates">3<' in again.get_data(as_text=True)
    assert counts(db) == (2, 3)

    # A workbook, read from the upload itself.
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["客户代码", "单位名称", "类别", "部分", "题名", "正文"])
    book.active.append(["JD2", "金达实业", "特殊", "往来", "对账单", "往来款 3 笔"])
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    xlsx = send(web, data, name="档案.xlsx")
    assert "Imported 1 records (1 new clients) from 1 rows." in text_of(xlsx.get_data(as_text=True))
    db.rollback()  # see what the request committed
    assert db.scalar(sa.select(Client.tier).where(Client.code == "JD2")) == "special"


def test_bad_rows_are_listed_per_row_in_chinese_and_nothing_is_filed(web, make, vault, db):
    web.lang = "zh-CN"
    web.sign_in(make.admin())
    bad = [*ROWS, ["ZZ9", "坏客户", "黄金", "杂项", "2025", "便条", "x"]]
    resp = send(web, sheet(HEADER, bad))
    assert resp.status_code == 400
    page = text_of(resp.get_data(as_text=True))
    assert "4 行中有 1 行有问题" in page, page
    errors = text_of(resp.get_data(as_text=True).split('id="import-errors"')[1])
    assert "“黄金”不是该列可用的取值" in errors and "“杂项”不是该列可用的取值" in errors
    assert "重点" in errors and "核心" in errors and "资信" in errors  # the accepted values
    # Line 5 of the sheet, its columns named in the page's language.
    raw = resp.get_data(as_text=True)
    assert "<tr><td>5</td><td>分类</td>" in raw and "<tr><td>5</td><td>部分</td>" in raw
    assert counts(db) == (0, 0)

    skipped = send(web, sheet(HEADER, bad), skip_bad="1")
    assert skipped.status_code == 200
    assert counts(db) == (2, 3)


def test_an_unknown_header_names_it_and_the_accepted_headers(web, make, vault, db):
    web.sign_in(make.custodian("core"))
    resp = send(web, sheet(["客户编号", "联系电话", "档案类别", "标题", "内容"], [["A1"] * 5]))
    assert resp.status_code == 400 and error_code(resp) == "import_unknown_column"
    html = resp.get_data(as_text=True)
    assert "<code>联系电话</code>" in html.split('id="import-named-columns"')[1]
    assert "客户编号" in html and "Client code" in html
    missing = send(web, sheet(["客户编号", "标题"], [["A1", "t"]]))
    assert missing.status_code == 400 and error_code(missing) == "import_missing_column"
    other = send(web, io.BytesIO(b"x"), name="clients.ods")
    assert other.status_code == 400 and error_code(other) == "import_unsupported_file"
    none = web.post("/import", {}, content_type="multipart/form-data")
    assert none.status_code == 400 and error_code(none) == "missing_file"
    assert counts(db) == (0, 0)


def test_an_employee_may_not_import_and_a_form_without_csrf_is_refused(web, make, vault, db):
    employee = make.person()
    web.sign_in(employee)
    assert 'href="/import"' not in web.get("/").get_data(as_text=True)
    refused = send(web, sheet(HEADER, ROWS))
    assert refused.status_code == 403 and error_code(refused) == "role_required"
    denials = events(vault, action="client:import", person_id=employee.id)
    assert [e.decision for e in denials] == ["deny"]
    custodian = web.another()
    custodian.sign_in(make.custodian("general"))
    forged = custodian.post(
        "/import",
        {"file": (sheet(HEADER, ROWS), "c.csv")},
        csrf=False,
        content_type="multipart/form-data",
    )
    assert forged.status_code in (400, 403) and error_code(forged) == "csrf_failed"
    assert counts(db) == (0, 0)


def test_the_chinese_page_shows_no_english_sentence_but_the_accepted_words(web, make):
    from tests.integration.test_ui_i18n import _check, extracted

    web.lang = "zh-CN,zh;q=0.9"
    web.sign_in(make.custodian())
    sentences = {m for m in extracted() if " " in m and len(m) >= 12}
    page = web.get("/import")
    html = page.get_data(as_text=True)
    assert "导入电子表格" in html and "纳税人识别号" in html
    # The accepted English words are shown as such (marked lang="en"), the rest is Chinese.
    assert '<td lang="en">Tax ID, ' in html
    page.set_data(re.sub(r'<td lang="en">[^<]*</td>', "", html))
    _check(page, sentences, "/import")
    bad = send(web, sheet(HEADER, [["ZZ9", "坏", "黄金", "杂项", "2025", "便条", "x"]]))
    assert bad.status_code == 400
    assert "1 行中有 1 行有问题" in text_of(bad.get_data(as_text=True))
