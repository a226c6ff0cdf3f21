"""Import from Excel/CSV: checked first, all or nothing, idempotent, sealed as if by hand."""

from __future__ import annotations

import csv
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from audit import audit_events
from tests.factories import Factory
from tests.soak import size
from vault import uow
from vault.archive.importer import import_file
from vault.caller import Caller
from vault.cli import main
from vault.models import Client, ImportedRow, Record

HEADER = [
    "Client code",
    "Client name",
    "Tier",
    "Kind",
    "Relationship",
    "Tax id",
    "Bank account",
    "Section",
    "Year",
    "Title",
    "Doc type",
    "Doc date",
    "Valid until",
    "Content",
]
TODAY = date.today()


def row(
    code="ACME",
    name="Acme Trading",
    tier="core",
    section="credit",
    title="Credit report",
    content="Rating A, net 60",
    year=None,
    doc_date=None,
    valid_until=None,
    tax_id="",
    bank="",
    kind="company",
    relationship="active",
    doc_type="report",
):
    return [
        code,
        name,
        tier,
        kind,
        relationship,
        tax_id,
        bank,
        section,
        "" if year is None else str(year),
        title,
        doc_type,
        doc_date.isoformat() if doc_date else "",
        valid_until.isoformat() if valid_until else "",
        content,
    ]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for r in rows:
        sheet.append(r)
    book.save(path)
    return path


def cli_env(config) -> dict[str, str]:
    return {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "x",
    }


def counts(db) -> tuple[int, int]:
    db.rollback()
    return (
        db.scalar(sa.select(sa.func.count()).select_from(Client)),
        db.scalar(sa.select(sa.func.count()).select_from(Record)),
    )


GOOD = [
    row(
        tax_id="91310000MA1FL0001X",
        bank="6222 0200 1234",
        doc_date=TODAY - timedelta(days=10),
        valid_until=TODAY + timedelta(days=170),
        content="IMPORTCANARY credit terms net 60",
    ),
    row(section="transactions", title="Framework contract", content="3 years, 4% discount"),
    row(
        code="CITYGOV",
        name="City Procurement",
        tier="special",
        kind="government",
        section="basic",
        title="Visit report",
        content="Met the director",
        year=2024,
    ),
]


def test_good_csv_is_imported_sealed_and_audited(api, make: Factory, vault, db, config, tmp_path):
    path = write_csv(tmp_path / "clients.csv", GOOD)
    result = CliRunner().invoke(main, ["import", str(path)], env=cli_env(config))
    assert result.exit_code == 0, result.output
    assert "imported 3 records (2 new clients)" in result.output

    assert counts(db) == (2, 3)
    acme = db.scalar(sa.select(Client).where(Client.code == "ACME"))
    assert acme.tier == "core" and acme.tax_id_ct is not None
    stored = db.scalars(sa.select(Record).where(Record.client_id == acme.id)).all()
    assert {r.file_number.rsplit("-", 2)[0] for r in stored} == {"ACME-2", "ACME-3"}
    assert all(b"IMPORTCANARY" not in r.content_ct for r in stored)
    credit = next(r for r in stored if r.section == 2)
    assert credit.valid_until == TODAY + timedelta(days=170)
    city_record = db.scalar(sa.select(Record).join(Client).where(Client.code == "CITYGOV"))
    assert city_record.year == 2024 and city_record.file_number == "CITYGOV-1-2024-0001"

    # As if entered by hand: a custodian reads it, the depositor is on the audit log,
    # the tax id is found through the blind index.
    got = api.get(
        f"/records/{credit.id}/content?purpose=check+import", make.token(make.custodian())
    )
    assert got.json["content"] == "IMPORTCANARY credit terms net 60"
    token = make.token(make.custodian("core"))
    found = api.post("/clients/lookup", token, json={"tax_id": "91310000MA1FL0001X"}).json
    assert [c["code"] for c in found["items"]] == ["ACME"]
    actions = db.execute(sa.select(audit_events.c.action, audit_events.c.resource_record)).all()
    assert sum(a == "record:deposit" for a, _ in actions) == 3
    assert sum(a == "client:create" for a, _ in actions) == 2
    keys = db.scalars(sa.select(ImportedRow.row_key)).all()
    assert len(keys) == 3 and all(len(k) == 64 for k in keys)


def test_xlsx_with_real_dates_and_numbers(make: Factory, vault, db, tmp_path):
    made = TODAY - timedelta(days=20)
    rows = [
        row(
            code="BLUESKY",
            name="Blue Sky",
            tier="general",
            year=2025,
            doc_date=None,
            title="Credit report 2025",
            content="ok",
        )
    ]
    rows[0][8] = 2025  # a number cell, as Excel keeps it
    rows[0][11] = made  # a date cell
    rows[0][12] = made + timedelta(days=120)
    rows[0][5] = 913100001234.0  # Excel turned the tax id into a float
    report = import_file(vault, db, Caller.operator(), write_xlsx(tmp_path / "c.xlsx", rows))
    assert report.errors == [] and report.records_created == 1
    record = db.scalar(sa.select(Record))
    assert record.doc_date == made and record.valid_until == made + timedelta(days=120)
    client = db.scalar(sa.select(Client))
    assert client.tax_id_bidx == vault.index("913100001234", purpose="client.tax_id")


BAD = [
    row(),  # line 2: fine
    row(code="x", tier="gold"),  # line 3
    row(section="misc", title=""),  # line 4
    row(year="1850", doc_date=None, content=""),  # line 5
    row(section="basic", valid_until=TODAY + timedelta(days=100)),  # line 6
    row(section="credit", doc_date=TODAY, valid_until=TODAY + timedelta(days=30)),  # 7
    row(code="NEWCO", name="", tier=""),  # line 8
    row(name="Acme Renamed"),  # line 9
    [*row(title="Dated")[:11], "31/12/2024", "", "x"],  # line 10
]


def test_bad_rows_are_all_reported_and_nothing_is_written(vault, db, config, tmp_path):
    path = write_csv(tmp_path / "bad.csv", BAD)
    result = CliRunner().invoke(main, ["import", str(path)], env=cli_env(config))
    assert result.exit_code == 2
    out = result.output
    expected = [
        "line 3, column client_code: 2-32 of A-Z, 0-9, _",
        "line 3, column tier: 'gold' is not accepted; accepted values (English / 中文): "
        "core = core, key, key client, VIP, 核心, 重点",
        "line 4, column section: 'misc' is not accepted; accepted values (English / 中文): "
        "basic = basic",
        "line 4, column title: required",
        "line 5, column content: required",
        "line 5, column year: must be between 1900",
        "line 6, column valid_until: applies to credit reports only",
        "line 7, column valid_until: valid_until must be 3 to 12 months after",
        "line 8, column client_name: required for the new client NEWCO",
        "line 8, column tier: required for the new client NEWCO",
        "line 9, column client_name: differs from an earlier row for ACME",
        "line 10, column doc_date: not a date (YYYY-MM-DD, YYYY/M/D or YYYY年M月D日)",
        "8 of 9 rows are bad: nothing imported",
    ]
    for text in expected:
        assert text in out, (text, out)
    assert "line 2" not in out
    assert counts(db) == (0, 0)
    assert db.scalar(sa.select(sa.func.count()).select_from(audit_events)) == 0


def test_skip_bad_imports_the_good_rows_and_reports_the_rest(vault, db, config, tmp_path):
    path = write_csv(tmp_path / "bad.csv", BAD)
    result = CliRunner().invoke(main, ["import", "--skip-bad", str(path)], env=cli_env(config))
    assert result.exit_code == 0, result.output
    assert "imported 1 records (1 new clients) from 9 rows" in result.output
    assert "8 bad rows skipped" in result.output
    assert "line 3, column tier" in result.output
    assert counts(db) == (1, 1)


def test_rerun_files_nothing_twice(vault, db, config, tmp_path):
    path = write_csv(tmp_path / "clients.csv", GOOD)
    runner = CliRunner()
    assert runner.invoke(main, ["import", str(path)], env=cli_env(config)).exit_code == 0
    again = runner.invoke(main, ["import", str(path)], env=cli_env(config))
    assert again.exit_code == 0, again.output
    assert "imported 0 records (0 new clients) from 3 rows; 3 already imported" in again.output
    assert counts(db) == (2, 3)

    # A new row beside the old ones: only it is filed, into the existing client.
    more = write_csv(
        tmp_path / "more.csv", [*GOOD, row(title="Second credit report", content="rating B")]
    )
    third = runner.invoke(main, ["import", str(more)], env=cli_env(config))
    assert "imported 1 records (0 new clients) from 4 rows; 3 already imported" in third.output
    assert counts(db) == (2, 4)


def test_a_row_repeated_in_the_file_is_filed_once(vault, db, tmp_path):
    path = write_csv(tmp_path / "twice.csv", [GOOD[1], GOOD[1]])
    report = uow.run(db, import_file, vault, db, Caller.operator(), path)
    assert (report.records_created, report.duplicates) == (1, 1)


def test_rows_must_agree_with_a_client_already_in_the_vault(make: Factory, vault, db, tmp_path):
    make.client("general", code="ACME", name="Acme Trading", tax_id="111")
    tier = import_file(
        vault, db, Caller.operator(), write_csv(tmp_path / "x.csv", [row(tier="core")])
    )
    assert [(e.line, e.column) for e in tier.errors] == [(2, "tier")]
    assert "exists with tier 'general'" in tier.errors[0].reason
    tax = import_file(
        vault,
        db,
        Caller.operator(),
        write_csv(tmp_path / "y.csv", [row(tier="general", tax_id="222")]),
    )
    assert [(e.line, e.column) for e in tax.errors] == [(2, "tax_id")]
    assert "111" not in str(tax.errors) and "222" not in str(tax.errors)
    assert tier.rejected and tax.rejected and counts(db) == (1, 0)
    fine = import_file(
        vault,
        db,
        Caller.operator(),
        write_csv(tmp_path / "z.csv", [row(tier="general", tax_id="1-1-1")]),
    )
    assert fine.records_created == 1 and fine.clients_created == 0


def test_unknown_column_unsupported_file_and_departing_importer(
    vault, db, config, tmp_path, make: Factory
):
    typo = tmp_path / "typo.csv"
    typo.write_text("client code,section,title,content,valid untill\nA1,credit,t,c,\n")
    result = CliRunner().invoke(main, ["import", str(typo)], env=cli_env(config))
    assert result.exit_code == 2 and "import_unknown_column" in result.output
    assert "valid untill" in result.output
    other = tmp_path / "clients.ods"
    other.write_bytes(b"PK\x03\x04")
    result = CliRunner().invoke(main, ["import", str(other)], env=cli_env(config))
    assert result.exit_code == 2 and "import_unsupported_file" in result.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    result = CliRunner().invoke(main, ["import", str(broken)], env=cli_env(config))
    assert result.exit_code == 2 and "import_bad_xlsx" in result.output
    assert "Traceback" not in result.output
    assert counts(db) == (0, 0)


def test_import_by_a_named_person_is_attributed_to_them(make: Factory, vault, db, config, tmp_path):
    sales = make.person(email="importer@example.test")
    path = write_csv(tmp_path / "c.csv", GOOD[:1])
    result = CliRunner().invoke(
        main, ["import", "--by", sales.email, str(path)], env=cli_env(config)
    )
    assert result.exit_code == 0, result.output
    record = db.scalar(sa.select(Record))
    assert record.deposited_by_id == sales.id


CLIENTS = size(100, 1000)  # x 10 records: 1,000 rows in `make test`, 10,000 in `make soak`


def test_a_bulk_import(vault, db, tmp_path, backend):
    """A bulk import (10,000 rows in `make soak`): every row lands once, a re-run adds none."""
    rows = []
    for c in range(CLIENTS):
        code = f"BULK{c:04d}"
        for r in range(10):
            section = ("basic", "credit", "transactions", "returns")[r % 4]
            rows.append(
                row(
                    code=code,
                    name=f"Bulk client {c}",
                    tier=("core", "special", "general")[c % 3],
                    section=section,
                    title=f"Document {r}",
                    content=f"Content of document {r} for client {c}. " * 4,
                    tax_id=f"TAX{c:06d}" if r == 0 else "",
                )
            )
    path = write_csv(tmp_path / "bulk.csv", rows)
    started = time.perf_counter()
    report = uow.run(db, import_file, vault, db, Caller.operator(), path)
    elapsed = time.perf_counter() - started
    print(
        f"\n{len(rows)}-row import on {backend}: {elapsed:.1f} s ({len(rows) / elapsed:.0f} rows/s)"
    )
    assert report.records_created == len(rows) and report.clients_created == CLIENTS
    assert counts(db) == (CLIENTS, len(rows))
    started = time.perf_counter()
    again = uow.run(db, import_file, vault, db, Caller.operator(), path)
    print(f"re-run (all duplicates) on {backend}: {time.perf_counter() - started:.1f} s")
    assert again.duplicates == len(rows) and again.records_created == 0


# As an office keeps it: Chinese headers in the office's own words, Chinese values, dates
# written year first with slashes, a year with 年, a colon or a full-width space here and there.
OFFICE_HEADER = [
    "客户编号",
    "客户名称",
    "客户级别",
    "客户类型",
    "合作状态",
    "纳税人识别号",
    "银行账号",
    "档案类别",
    "年份",
    "标题",
    "文件日期",
    "有效期至\uff1a",
    "\u3000内容",
]
MADE = TODAY - timedelta(days=15)
OFFICE_ROWS = [
    [
        "hx01",
        "华兴贸易有限公司",
        "重点",
        "企业",
        "正在交易",
        "91310000MA1HX0001Y",
        "6222 0210 8888",
        "资信",
        "",
        "资信调查报告",
        f"{MADE.year}/{MADE.month}/{MADE.day}",
        f"{MADE.year + 1}年{MADE.month}月1日" if MADE.month > 1 else "",
        "信用等级 A\uff0c账期 60 天",
    ],
    ["HX01", "", "", "", "", "", "", "交易", "2024年", "框架合同", "", "", "三年\uff0c折扣 4%"],
    ["HX01", "", "", "", "", "", "", "退货", "2024", "退货单", "", "", "退货 12 箱"],
    [
        "SZGOV",
        "市采购中心",
        "特殊",
        "政府机构",
        "",
        "",
        "",
        "基础资料",
        "2023",
        "走访记录",
        "",
        "",
        "见到主任",
    ],
    [
        "PT7",
        "普通客户七号",
        "一般",
        "个人",
        "潜在客户",
        "",
        "",
        "折让",
        "",
        "折让协议",
        "",
        "",
        "九五折",
    ],
]


def write_office_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig") as fh:  # Excel's "CSV UTF-8"
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_chinese_headers_and_values_from_an_office_csv(
    api, make: Factory, vault, db, config, tmp_path
):
    if OFFICE_ROWS[0][11] == "":  # a January sheet: keep the credit report valid anyway
        OFFICE_ROWS[0][11] = (MADE + timedelta(days=180)).isoformat()
    path = write_office_csv(tmp_path / "客户档案.csv", OFFICE_HEADER, OFFICE_ROWS)
    result = CliRunner().invoke(main, ["import", str(path)], env=cli_env(config))
    assert result.exit_code == 0, result.output
    assert "imported 5 records (3 new clients)" in result.output

    clients = {c.code: c for c in db.scalars(sa.select(Client))}
    assert {code: (c.name, c.tier, c.kind, c.relationship) for code, c in clients.items()} == {
        "HX01": ("华兴贸易有限公司", "core", "company", "active"),
        "SZGOV": ("市采购中心", "special", "government", "active"),
        "PT7": ("普通客户七号", "general", "individual", "prospective"),
    }
    stored = {
        r.title: (clients_by_id[r.client_id], r.section, r.year)
        for clients_by_id in [{c.id: code for code, c in clients.items()}]
        for r in db.scalars(sa.select(Record))
    }
    assert stored == {
        "资信调查报告": ("HX01", 2, MADE.year),
        "框架合同": ("HX01", 3, 2024),
        "退货单": ("HX01", 4, 2024),
        "走访记录": ("SZGOV", 1, 2023),
        "折让协议": ("PT7", 4, TODAY.year),
    }
    credit = db.scalar(sa.select(Record).where(Record.section == 2))
    assert credit.doc_date == MADE and credit.valid_until is not None
    token = make.token(make.custodian("core"))
    found = api.post("/clients/lookup", token, json={"tax_id": "91310000MA1HX0001Y"}).json
    assert [c["code"] for c in found["items"]] == ["HX01"]
    got = api.get(f"/records/{credit.id}/content?purpose=核对导入", make.token(make.custodian()))
    assert got.json["content"] == "信用等级 A\uff0c账期 60 天"


def test_chinese_headers_and_values_from_an_office_workbook(vault, db, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    # Other words an office uses for the same columns; a full-width colon, full-width letters.
    header = ["客户代码\uff1a", "单位名称", "类别", "性质", "税号", "部分", "年度", "题名"]
    sheet.append([*header, "日期", "内容"])
    sheet.append(
        [
            "\uff2a\uff24\uff12",
            "金达实业",
            "核心",
            "特殊公司",
            913100009876.0,
            "信用",
            2025,
            "年度信用报告",
            MADE,
            "评级 AA",
        ]
    )
    sheet.append(
        ["JD2", "金达实业", "核心", "特殊公司", None, "往来", 2025, "对账单", None, "往来款 3 笔"]
    )
    sheet.append(["JD2", None, None, None, None, "基本", 2025, "营业执照", None, "副本"])
    sheet.append(["JD2", None, None, None, None, 4, 2025, "折让单", None, "九折"])
    book.save(tmp_path / "档案.xlsx")
    report = uow.run(db, import_file, vault, db, Caller.operator(), tmp_path / "档案.xlsx")
    assert report.errors == [] and (report.clients_created, report.records_created) == (1, 4)
    client = db.scalar(sa.select(Client))
    assert (client.code, client.name, client.tier, client.kind) == (
        "JD2",
        "金达实业",
        "core",
        "special_company",
    )
    assert client.tax_id_bidx == vault.index("913100009876", purpose="client.tax_id")
    sections = {r.title: r.section for r in db.scalars(sa.select(Record))}
    assert sections == {"年度信用报告": 2, "对账单": 3, "营业执照": 1, "折让单": 4}
    assert db.scalar(sa.select(Record.doc_date).where(Record.section == 2)) == MADE


def test_english_headers_in_an_office_s_own_words(vault, db, tmp_path):
    header = [
        "CUSTOMER_ID",
        "Customer Name",
        "Client Level",
        "Tax ID",
        "File section",
        "Subject",
        "Text",
    ]
    rows = [
        ["ACME", "Acme", "Key client", "TAX-1", "Credit report", "Rating", "A"],
        ["ACME", "Acme", "KEY", "", "Returns and discounts", "Credit note", "5%"],
    ]
    report = uow.run(
        db,
        import_file,
        vault,
        db,
        Caller.operator(),
        write_office_csv(tmp_path / "e.csv", header, rows),
    )
    assert report.errors == [] and report.records_created == 2
    assert db.scalar(sa.select(Client.tier)) == "core"
    assert sorted(db.scalars(sa.select(Record.section))) == [2, 4]


def test_an_unknown_chinese_header_lists_the_accepted_names_in_both_languages(
    vault, db, config, tmp_path
):
    path = write_office_csv(
        tmp_path / "c.csv",
        ["客户编号", "档案类别", "标题", "内容", "联系电话"],
        [["HX01", "资信", "报告", "x", "021-5555"]],
    )
    result = CliRunner().invoke(main, ["import", str(path)], env=cli_env(config))
    assert result.exit_code == 2 and "Traceback" not in result.output
    out = result.output
    assert "error [import_unknown_column]: unknown column(s): 联系电话;" in out
    for word in (
        "Client code",
        "客户编号",
        "纳税人识别号",
        "Tax ID",
        "档案类别",
        "Valid until",
        "有效期至",
    ):
        assert word in out, (word, out)
    assert counts(db) == (0, 0)


def test_a_missing_required_column_names_it_in_both_languages(vault, db, config, tmp_path):
    path = write_office_csv(
        tmp_path / "c.csv",
        ["客户编号", "客户名称", "级别", "标题"],
        [["HX01", "华兴", "重点", "报告"]],
    )
    result = CliRunner().invoke(main, ["import", str(path)], env=cli_env(config))
    assert result.exit_code == 2 and "Traceback" not in result.output
    out = result.output
    assert (
        "error [import_missing_column]: missing column(s): Section / 部分, Content / 内容;" in out
    )
    assert "section = Section" in out and "档案类别" in out and "正文" in out
    assert "client_code =" not in out  # only the missing columns' words
    doubled = write_office_csv(
        tmp_path / "d.csv", ["客户编号", "Client code", "部分", "标题", "内容"], []
    )
    result = CliRunner().invoke(main, ["import", str(doubled)], env=cli_env(config))
    assert result.exit_code == 2 and "import_duplicate_column" in result.output
    assert "客户编号, Client code (all client_code)" in result.output
    assert counts(db) == (0, 0)


def test_unknown_chinese_values_name_the_row_and_the_accepted_values(vault, db, config, tmp_path):
    rows = [
        ["HX01", "华兴", "重点", "企业", "资信", "报告", "x"],  # line 2: fine
        ["HX02", "华光", "黄金", "企业", "交易", "合同", "y"],  # line 3: no such tier
        ["HX03", "华明", "一般", "社团", "杂项", "便条", "z"],  # line 4: kind, section
    ]
    path = write_office_csv(
        tmp_path / "v.csv",
        ["客户编号", "客户名称", "客户级别", "客户类型", "档案类别", "标题", "内容"],
        rows,
    )
    result = CliRunner().invoke(main, ["import", str(path)], env=cli_env(config))
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.output.splitlines()
    tier = next(t for t in lines if t.startswith("line 3, column tier: '黄金' is not accepted"))
    for word in ("core = core", "核心", "重点", "special", "特殊", "general", "一般"):
        assert word in tier, (word, tier)
    section = next(t for t in lines if t.startswith("line 4, column section: '杂项'"))
    for word in (
        "basic",
        "基础资料",
        "credit",
        "资信",
        "transactions",
        "往来",
        "returns",
        "折让",
        "1-4",
    ):
        assert word in section, (word, section)
    assert any(t.startswith("line 4, column kind: '社团'") and "企业" in t for t in lines)
    assert not any(t.startswith("line 2") for t in lines)
    assert "2 of 3 rows are bad: nothing imported" in result.output
    assert counts(db) == (0, 0)
