"""The loan and use registers (借阅登记, 利用登记), the client dossier (编研) and the portfolio
(抓两头、放中间), in one small world: a core client with a lapsed credit report, a loan
out and back, a consultation and a copy of a record whose content carries a canary.

Every view is metadata only (the canary is in no page, CSV or PDF text), reading it is
audited, the PDFs render Chinese and the dossier's PDF carries a traceable watermark;
who may read what is the policy's (auditors and custodians the registers, custodians in
scope the dossier, an employee nothing)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from audit.schema import audit_events
from vault import access, uow
from vault.appraisal.dossier import timeline
from vault.archive import file_reviews, records
from vault.caller import Caller
from vault.cli import main
from vault.custody import loans, watermarks

CANARY = "REGCANARY-利用-content-8M3N"


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def _events(db, action: str) -> list[dict]:
    db.commit()
    rows = db.execute(select(audit_events.c.body).where(audit_events.c.action == action)).all()
    return [json.loads(r[0]) for r in rows]


def test_registers_dossier_and_portfolio_show_metadata_only_and_are_audited(
    make, vault, db, web, config
):
    custodian, auditor, employee = make.custodian(), make.person(roles=("auditor",)), make.person()
    core = make.client("core", name="Core Trading 核心")
    today = date.today()
    made = today - timedelta(days=200)
    credit = uow.run(
        db,
        records.deposit,
        vault,
        db,
        Caller(person=employee),
        records.Deposit(
            client_id=core.id,
            section="credit",
            title="Credit survey 2025",
            content=f"credit details {CANARY}".encode(),
            doc_date=made,
            valid_until=made + timedelta(days=95),
        ),
    )
    note = make.record(core, content=f"visit notes {CANARY}".encode(), section="basic")
    for _ in range(3):
        make.record(core, content=b"a return", section="returns")
    item = uow.run(
        db,
        loans.add_item,
        vault,
        db,
        Caller(person=custodian),
        note.id,
        kind="folder",
        label="Folder A-1",
        location="Shelf 3",
    )
    uow.run(
        db,
        loans.checkout,
        vault,
        db,
        Caller(person=custodian),
        item.id,
        custodian,
        pages=12,
        purpose="annual audit of the folder",
    )
    uow.run(
        db,
        loans.checkin,
        vault,
        db,
        Caller(person=custodian),
        item.id,
        pages=12,
        condition="good",
    )
    db.commit()
    # As a request would: the vault's own session writes the held-back audit events.
    with vault.sessions() as own:
        who = Caller(person=custodian)
        uow.run(own, access.consult, vault, own, who, note.id, "checking the visit")
        uow.run(own, access.copy, vault, own, who, credit.id, "copy for the bank")
    uow.run(db, file_reviews.mark_reviewed, vault, db, Caller(person=custodian), core.id)
    db.commit()

    period = f"from={(today - timedelta(days=1)).isoformat()}&to={today.isoformat()}"
    for lang, loan_title, use_title in (
        ("en", "Loan register", "Use register"),
        ("zh", "借阅登记", "利用登记"),
    ):
        reader = web.another(lang=lang)
        reader.sign_in(auditor)
        page = reader.get(f"/registers/loans?{period}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert loan_title in html and "annual audit of the folder" in html and "Folder A-1" in html
        assert CANARY not in html
        csv = reader.get(f"/registers/loans?{period}&format=csv").get_data(as_text=True)
        assert "annual audit of the folder" in csv and CANARY not in csv
        # One printed register per language (the loans in Chinese, the uses in English).
        which = "loans" if lang == "zh" else "uses"
        printed = reader.get(f"/registers/{which}?{period}&format=pdf")
        assert printed.mimetype == "application/pdf"
        text = _pdf_text(printed.data)
        assert (loan_title if which == "loans" else use_title) in text and CANARY not in text
        wanted = note.file_number if which == "loans" else "checking the visit"
        assert wanted in text
        uses = reader.get(f"/registers/uses?{period}").get_data(as_text=True)
        assert use_title in uses and "checking the visit" in uses and "copy for the bank" in uses
        assert CANARY not in uses
        use_csv = reader.get(f"/registers/uses?{period}&format=csv").get_data(as_text=True)
        assert credit.file_number in use_csv and CANARY not in use_csv
    read = _events(db, "register:read")
    assert {(e["details"]["register"], e["details"]["format"]) for e in read} >= {
        ("loans", "page"),
        ("loans", "csv"),
        ("loans", "pdf"),
        ("uses", "page"),
        ("uses", "pdf"),
        ("uses", "csv"),
    }
    # A custodian reads the registers too; an employee does not, nor a bad period.
    keeper = web.another(lang="en")
    keeper.sign_in(custodian)
    assert keeper.get("/registers/uses").status_code == 200
    nosy = web.another(lang="en")
    nosy.sign_in(employee)
    assert nosy.get("/registers/loans").status_code == 403
    assert nosy.get("/portfolio").status_code == 403
    backwards = keeper.get(f"/registers/loans?from={today}&to={today - timedelta(days=3)}")
    assert backwards.status_code == 400

    # The dossier: a custodian in scope compiles it; metadata only; audited with its copy id.
    dossier = keeper.get(f"/clients/{core.id}/dossier")
    assert dossier.status_code == 200
    html = dossier.get_data(as_text=True)
    assert credit.file_number in html and note.file_number in html and "Folder A-1" in html
    assert "credit report lapsed" in html and "many returns" in html
    assert "lapse: no valid report" in html
    assert CANARY not in html
    printed = keeper.get(f"/clients/{core.id}/dossier?format=pdf")
    assert printed.mimetype == "application/pdf"
    copy_id = watermarks.trace(printed.data)
    text = _pdf_text(printed.data)
    assert credit.file_number in text and "核心" in text and CANARY not in text
    compiled = _events(db, "client:dossier")
    assert [e["details"]["format"] for e in compiled] == ["page", "pdf"]
    assert compiled[-1]["details"]["copy_id"] == copy_id
    assert compiled[-1]["resource"]["client"] == str(core.id)
    zh = web.another(lang="zh")
    zh.sign_in(custodian)
    assert "资信调查报告已过期" in zh.get(f"/clients/{core.id}/dossier").get_data(as_text=True)
    # Auditors read the log, never compile a client's file; the refusal is audited.
    auditor_page = web.another(lang="en")
    auditor_page.sign_in(auditor)
    assert auditor_page.get(f"/clients/{core.id}/dossier").status_code == 403
    assert any(e["decision"] == "deny" for e in _events(db, "client:dossier"))

    # The portfolio: the core client at one end, and among the high-risk ones.
    port = auditor_page.get("/portfolio")
    assert port.status_code == 200
    html = port.get_data(as_text=True)
    assert "Core Trading" in html and "<svg" in html and "credit report lapsed" in html
    assert CANARY not in html
    assert _events(db, "portfolio:read")

    # The same on the command line, as a person whose rights the policy decides.
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    run = CliRunner().invoke
    loans_csv = run(main, ["register", "loans", "--as", auditor.email], env=env)
    assert loans_csv.exit_code == 0 and "annual audit of the folder" in loans_csv.output
    refused = run(main, ["register", "uses", "--as", employee.email], env=env)
    assert refused.exit_code == 3 and "role_required" in refused.output
    compiled = run(main, ["dossier", core.code, "--as", custodian.email], env=env)
    assert compiled.exit_code == 0 and credit.file_number in compiled.output
    assert CANARY not in compiled.output and "credit_lapsed" in compiled.output
    ends = run(main, ["portfolio", "--as", auditor.email], env=env)
    assert ends.exit_code == 0 and core.code in ends.output


def test_the_credit_timeline_marks_each_lapse():
    d = date(2025, 1, 1)
    spans = timeline(
        [("B", d + timedelta(days=200), d + timedelta(days=300)), ("A", d, d + timedelta(days=90))],
        today=d + timedelta(days=400),
    )
    assert [(s.file_number, s.lapse) for s in spans] == [
        ("A", False),
        ("", True),
        ("B", False),
        ("", True),
    ]
    assert spans[1].start == d + timedelta(days=91) and spans[1].end == d + timedelta(days=199)
    assert timeline([], today=d) == []


def test_the_portfolio_leaves_disposed_records_out_of_its_signs(make, vault, db):
    # A former client whose records were all disposed of has no open records left, and
    # disposed returns are no longer "many returns" (the disposal itself, by two people,
    # is test_appraisal's; here only what the portfolio counts).
    from vault.appraisal.portfolio import signs
    from vault.db import utcnow

    former = make.client("general", relationship="former")
    kept_client = make.client("general", relationship="former")
    gone = [make.record(former, section="returns") for _ in range(3)]
    make.record(kept_client, section="returns")
    before = signs(vault, db, [former, kept_client])
    assert {"ended_with_open_records", "many_returns"} <= set(before[former.id].risks)
    for r in gone:
        r.disposed_at = utcnow()
    db.commit()
    after = signs(vault, db, [former, kept_client])
    assert after[former.id].records == 0
    assert not {"ended_with_open_records", "many_returns"} & set(after[former.id].risks)
    assert "ended_with_open_records" in after[kept_client.id].risks
