"""The four-properties check (四性检测): one small archive, checked clean, then each property
is made to fail in its own way and the check finds exactly that fault (its code, on the
record), raises an alert, shows it on the record's card, and keeps a report (page, CSV,
JSON) and an audit event with its figures. The content never reaches the checker."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from reportlab.pdfgen import canvas
from sqlalchemy import select, text

from audit.schema import audit_events
from vault import access, uow
from vault.appraisal import checks
from vault.archive import records
from vault.caller import Caller
from vault.cli import main
from vault.crypto.providers import WrappedKey
from vault.models import Alert, Attachment, CheckFinding, CheckRun, Record

CANARY = "CHECKCANARY-四性-content-7Q2W9X"


@pytest.fixture
def config(config):
    """Blob files are looked at (copied as an old backup, removed as a fault): the local
    blob store on both databases (the PostgreSQL rows are tested in test_blob_stores)."""
    return config.with_(blob_store="local")


def _pdf() -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, "a scanned contract")
    c.showPage()
    c.save()
    return buf.getvalue()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def _deposit(vault, db, who, client, content: bytes, kind: str, section="basic"):
    return uow.run(
        db,
        records.deposit,
        vault,
        db,
        Caller(person=who),
        records.Deposit(
            client_id=client.id, section=section, title="Filed", content=content, content_type=kind
        ),
    )


def _attach(vault, db, who, record, name, kind, data):
    return uow.run(
        db,
        records.attach,
        vault,
        db,
        Caller(person=who),
        record.id,
        filename=name,
        content_type=kind,
        stream=io.BytesIO(data),
    )


def _run(vault, db, scope="all"):
    vault.maybe_seal(force=True)
    db.commit()
    db.expire_all()  # the rows were changed behind the session's back
    report = uow.run(db, checks.run_check, vault, db, Caller.operator(), scope)
    db.commit()
    return report


def _codes(report) -> set[tuple[str, str, int | None]]:
    return {(f.property, f.code, f.record_id) for f in report.findings}


def test_each_property_finds_its_own_fault_and_passes_a_clean_vault(make, vault, db, web):
    employee, custodian = make.person(), make.custodian()
    client = make.client("general")
    text_rec = _deposit(vault, db, employee, client, CANARY.encode(), "text/plain; charset=utf-8")
    pdf_rec = _deposit(vault, db, employee, client, _pdf(), "application/pdf")
    img_rec = _deposit(vault, db, employee, client, _png(), "image/png")
    spare = _deposit(vault, db, employee, client, b"plain words", "text/plain")
    other = make.client("core")
    keyed = _deposit(vault, db, employee, other, b"to be made unreadable", "text/plain")
    att_pdf = _attach(vault, db, custodian, pdf_rec, "scan.pdf", "application/pdf", _pdf())
    att_txt = _attach(vault, db, custodian, text_rec, "note.txt", "text/plain", b"a note")

    # Clean: nothing found, and the run is kept with its figures and its audit event.
    clean = _run(vault, db)
    assert clean.ok, clean.findings
    assert clean.run.records == 5 and clean.run.attachments == 2
    assert clean.run.figures["files_scanned"] >= 2
    event = db.execute(
        select(audit_events.c.body).where(audit_events.c.action == "check:run")
    ).scalar_one()
    body = json.loads(event)
    assert body["details"]["records"] == 5 and body["details"]["failures"] == 0
    assert body["details"]["report_sha256"] == clean.run.report_sha256
    # The content was looked at inside the choke point, audited as a system check.
    checked = db.execute(
        select(audit_events.c.body).where(audit_events.c.action == "record:check")
    ).all()
    assert checked and json.loads(checked[0][0])["details"]["records"] == 5
    # Nothing the checker holds carries content.
    assert CANARY not in json.dumps(clean.as_json(), ensure_ascii=False)

    # Authenticity: the digest on the card no longer matches the intake event's.
    db.execute(
        text("UPDATE records SET content_digest = :d WHERE id = :i"),
        {"d": "0" * 64, "i": spare.id},
    )
    # Integrity: an attachment's blob is gone; a number is missing in the sequence.
    db.commit()
    vault.blobs.delete(db.get(Attachment, att_txt.id).blob_key)
    db.execute(
        text("UPDATE records SET seq = 9, file_number = :f WHERE id = :i"),
        {"f": f"{client.code}-1-{img_rec.year}-0009", "i": img_rec.id},
    )
    # Usability: a "PDF" that does not parse (filed as such: the intake event says so).
    bad_pdf = _deposit(vault, db, employee, other, b"%PDF-1.7 not really", "application/pdf")
    # Security: a ciphertext with one byte turned; a data key under a key nobody holds.
    ct = bytearray(db.get(Record, keyed.id).content_ct)
    ct[-1] ^= 0x01
    db.execute(
        text("UPDATE records SET content_ct = :c WHERE id = :i"), {"c": bytes(ct), "i": keyed.id}
    )
    ghost = make.record(other, content=b"under a retired key")
    db.execute(
        text("UPDATE records SET wrapped_dek = :w WHERE id = :i"),
        {"w": WrappedKey("kek-gone", b"\x00" * 40).to_bytes(), "i": ghost.id},
    )
    # ... and a record's words written in clear in the logs folder.
    (Path(vault.config.logs) / "stray.log").write_text(f"debug: {CANARY}\n", encoding="utf-8")
    db.commit()

    found = _run(vault, db)
    codes = _codes(found)
    assert ("authenticity", "intake_digest_mismatch", spare.id) in codes
    assert ("integrity", "attachment_missing", text_rec.id) in codes
    assert ("integrity", "number_gap", None) in codes
    assert ("usability", "pdf_unreadable", bad_pdf.id) in codes
    assert ("security", "undecryptable", keyed.id) in codes
    assert ("security", "key_not_live", ghost.id) in codes
    assert ("security", "plaintext_found", None) in codes
    # ... and nothing else: the sound records stay sound.
    assert {r for _, _, r in codes} <= {spare.id, text_rec.id, bad_pdf.id, keyed.id, ghost.id, None}
    assert pdf_rec.id not in {r for _, _, r in codes}
    assert att_pdf.id not in {f.attachment_id for f in found.findings}
    fig = found.run.figures
    assert fig["authenticity"] >= 1 and fig["integrity"] >= 2
    assert fig["usability"] == 1 and fig["security"] >= 3
    report_json = json.dumps(found.as_json(), ensure_ascii=False)
    assert CANARY not in report_json and CANARY not in found.csv()
    assert "stray.log" in report_json

    # The auditors are alerted; the faults show on the record's card, in both languages.
    alert = db.scalars(select(Alert).where(Alert.kind == "check_failed")).one()
    assert alert.params["run"] == found.run.id
    auditor = make.person(roles=("auditor",))
    page = web.another(lang="en")
    page.sign_in(auditor)
    card = page.get(f"/records/{keyed.id}").get_data(as_text=True)
    assert "Four-properties check" in card and "does not decrypt" in card
    runs = page.get("/checks").get_data(as_text=True)
    assert f"/checks/{found.run.id}" in runs
    one = page.get(f"/checks/{found.run.id}")
    assert one.status_code == 200 and "stray.log" in one.get_data(as_text=True)
    assert CANARY not in one.get_data(as_text=True)
    as_csv = page.get(f"/checks/{found.run.id}?format=csv")
    assert as_csv.mimetype == "text/csv" and "pdf_unreadable" in as_csv.get_data(as_text=True)
    as_json = page.get(f"/checks/{found.run.id}?format=json").get_json()
    assert as_json["failures"] == found.run.failures
    zh = web.another(lang="zh")
    zh.sign_in(auditor)
    assert "四性检测" in zh.get(f"/records/{keyed.id}").get_data(as_text=True)
    # An employee reads no report.
    nosy = web.another(lang="en")
    nosy.sign_in(employee)
    assert nosy.get("/checks").status_code == 403

    # Before a transfer or disposal: the same check on a few records, their faults only.
    before = uow.run(
        db, checks.check_records, vault, db, Caller.operator(), [pdf_rec.id], trigger="disposal"
    )
    db.commit()
    assert not any(f.record_id == pdf_rec.id for f in before.findings)
    bad = uow.run(
        db, checks.check_records, vault, db, Caller.operator(), [keyed.id], trigger="transfer"
    )
    assert ("security", "undecryptable", keyed.id) in _codes(bad)
    db.commit()
    assert db.scalar(select(CheckRun).where(CheckRun.trigger == "transfer")) is not None

    # Put right, a fault leaves the card at the next run; one still there stays.
    (Path(vault.config.logs) / "stray.log").unlink()
    again = _run(vault, db)
    assert "plaintext_found" not in {f.code for f in again.findings}
    still = db.scalars(select(CheckFinding).where(CheckFinding.resolved_by_run_id.is_(None)))
    assert {
        (f.code, f.run_id) for f in still if f.code in ("plaintext_found", "undecryptable")
    } == {("undecryptable", again.run.id)}


def test_check_run_on_the_command_line(make, vault, db, config):
    """``archive-vault check run`` exits 1 with the faults listed, 0 on a sound file, and
    a CLI message (no traceback) for a client that does not exist."""
    client = make.client("general")
    make.record(client, content=b"sound words")
    db.commit()
    vault.maybe_seal(force=True)
    env = {"VAULT_HOME": str(config.home), "VAULT_DATABASE_URL": config.database_url}
    runner = CliRunner()
    ok = runner.invoke(main, ["check", "run"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "1 records" in ok.output and "0 faults" in ok.output
    rec = db.scalars(select(Record)).first()
    db.execute(text("UPDATE records SET content_digest = NULL WHERE id = :i"), {"i": rec.id})
    db.commit()
    bad = runner.invoke(main, ["check", "run", "--client", client.code, "--no-scan"], env=env)
    assert bad.exit_code == 1 and "no_intake_digest" in bad.output
    report = runner.invoke(main, ["check", "report", "2", "--format", "csv"], env=env)
    assert report.exit_code == 0 and "no_intake_digest" in report.output
    missing = runner.invoke(main, ["check", "run", "--client", "NOSUCH"], env=env)
    assert missing.exit_code == 4 and "client_not_found" in missing.output
    assert missing.exception is None or isinstance(missing.exception, SystemExit)


def test_the_scan_looks_for_distinctive_words_only():
    """Ordinary long words are in every log; a word with a digit or a Chinese phrase names
    its record (and is only ever compared as a keyed hash)."""
    words = list(
        access.tokens(
            'an ordinary relationship, {"k": "CANARY-7Q2W9X-abc"} 客户机密内容资料记录表格档案'
        )
    )
    assert words == ["CANARY-7Q2W9X-abc", "客户机密内容资料记录表格档案"]
    assert list(access.tokens("internationalization")) == ["internationalization"]


def test_a_fault_found_at_intake_shows_on_the_card_at_once(make, vault, db, web, api):
    # A "PDF" that does not parse is filed (intake never refuses on format), and the
    # record's card shows the usability fault before any scheduled run; a sound record
    # filed beside it keeps no run at all.
    employee, auditor = make.person(), make.person(roles=("auditor",))
    client = make.client("general")
    broken = _deposit(vault, db, employee, client, b"not a PDF at all", "application/pdf")
    sound = _deposit(vault, db, employee, client, _pdf(), "application/pdf")
    db.commit()
    runs = db.scalars(select(CheckRun)).all()
    assert [(r.trigger, r.records, r.failures) for r in runs] == [("intake", 1, 1)]
    assert {(f.property, f.code, f.record_id) for f in checks.open_findings(db, broken.id)} == {
        ("usability", "pdf_unreadable", broken.id)
    }
    assert checks.open_findings(db, sound.id) == []
    event = json.loads(
        db.execute(
            select(audit_events.c.body).where(audit_events.c.action == "check:run")
        ).scalar_one()
    )
    assert event["details"]["trigger"] == "intake" and event["details"]["failures"] == 1
    card = api.get(f"/records/{broken.id}", make.token(auditor)).json
    assert [(f["property"], f["code"]) for f in card["check_findings"]] == [
        ("usability", "pdf_unreadable")
    ]
    assert api.get(f"/records/{sound.id}", make.token(auditor)).json["check_findings"] == []
    for lang, words in (("en", "the PDF does not open"), ("zh", "四性检测")):
        page = web.another(lang=lang)
        page.sign_in(auditor)
        assert words in page.get(f"/records/{broken.id}").get_data(as_text=True)
    # The next full run finds it again, and the intake's finding is resolved by it.
    again = _run(vault, db)
    assert ("usability", "pdf_unreadable", broken.id) in _codes(again)
    assert {f.run_id for f in checks.open_findings(db, broken.id)} == {again.run.id}
