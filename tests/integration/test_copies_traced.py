"""Traceable copies: only with a copy grant or as a custodian; each copy names its maker."""

from __future__ import annotations

import io

import sqlalchemy as sa
from click.testing import CliRunner
from PIL import Image
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from audit import audit_events
from tests.factories import Factory
from vault import uow
from vault.archive.records import Deposit, deposit
from vault.caller import Caller
from vault.cli import main


def pdf_bytes(pages: int = 2) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(595, 842))
    for n in range(pages):
        c.drawString(72, 720, f"Framework contract, page {n + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (250, 250, 245)).save(out, format=fmt)
    return out.getvalue()


def filed(vault, db, client, content: bytes, content_type: str):
    return uow.run(
        db,
        deposit,
        vault,
        db,
        Caller.operator(),
        Deposit(
            client_id=client.id,
            section="transactions",
            title="Framework contract",
            content=content,
            content_type=content_type,
        ),
    )


def env(config) -> dict[str, str]:
    return {
        "VAULT_HOME": str(config.home),
        "VAULT_DATABASE_URL": config.database_url,
        "VAULT_SECRET_KEY": "x",
    }


def trace_cli(config, tmp_path, data: bytes, name: str = "found.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return CliRunner().invoke(main, ["audit", "trace-copy", str(path)], env=env(config))


def copy_events(db, record_id: int) -> list[tuple[str, int]]:
    db.rollback()
    return db.execute(
        sa.select(audit_events.c.decision, audit_events.c.actor_person_id)
        .where(
            audit_events.c.action == "record:copy", audit_events.c.resource_record == str(record_id)
        )
        .order_by(audit_events.c.seq)
    ).all()


def test_custodian_copies_text_and_trace_names_them(
    api, make: Factory, vault, db, config, tmp_path
):
    custodian = make.custodian("general")
    record = make.record(make.client("general"), content=b"Payment terms: net 60\n")
    resp = api.post(
        f"/records/{record.id}/copy",
        make.token(custodian),
        json={"purpose": "send to the auditor of the client"},
    )
    assert resp.status_code == 200, resp.json
    copy_id = resp.headers["X-Copy-Id"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert copy_id in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    assert text.startswith(f"[ARCHIVE VAULT COPY {copy_id} - made for {custodian.email} at ")
    assert "Payment terms: net 60" in text
    assert copy_events(db, record.id) == [("allow", custodian.id)]

    traced = trace_cli(config, tmp_path, resp.data, "leaked.txt")
    assert traced.exit_code == 0, traced.output
    assert custodian.email in traced.output and record.file_number in traced.output
    assert "none (custodian)" in traced.output and copy_id in traced.output


def test_grant_holder_copies_pdf_every_page_stamped_and_traced(
    api, make: Factory, vault, db, config, tmp_path
):
    client = make.client("special")
    record = filed(vault, db, client, pdf_bytes(3), "application/pdf")
    employee = make.person()
    grant = make.grant(employee, record, actions=("consult", "copy"))
    resp = api.post(
        f"/records/{record.id}/copy",
        make.token(employee),
        json={"purpose": "the client's lawyer asked for the contract"},
    )
    assert resp.status_code == 200, resp.json
    assert resp.mimetype == "application/pdf"
    copy_id = resp.headers["X-Copy-Id"]
    pages = PdfReader(io.BytesIO(resp.data)).pages
    assert len(pages) == 3
    for page in pages:
        text = page.extract_text()
        assert copy_id in text and employee.email in text and "Framework contract" in text

    traced = trace_cli(config, tmp_path, resp.data, "found.pdf")
    assert traced.exit_code == 0, traced.output
    assert employee.email in traced.output and f"grant:   {grant.id}" in traced.output

    auditor = make.token(make.person(roles=("employee", "auditor")))
    via_api = api.client.post(
        "/api/v1/audit/trace-copy",
        headers={"Authorization": f"Bearer {auditor}"},
        data={"file": (io.BytesIO(resp.data), "found.pdf")},
    )
    assert via_api.status_code == 200, via_api.json
    body = via_api.json
    assert body["copy_id"] == copy_id and body["person"]["email"] == employee.email
    assert body["grant_id"] == str(grant.id) and body["record"]["id"] == record.id
    assert body["purpose"] == "the client's lawyer asked for the contract"


def test_png_and_jpeg_copies_are_traced(api, make: Factory, vault, db, config, tmp_path):
    custodian = make.custodian()
    client = make.client("core")
    for fmt, kind in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        record = filed(vault, db, client, image_bytes(fmt), kind)
        resp = api.post(
            f"/records/{record.id}/copy",
            make.token(custodian),
            json={"purpose": "scan for the bank"},
        )
        assert resp.status_code == 200 and resp.mimetype == kind
        assert Image.open(io.BytesIO(resp.data)).format == fmt
        traced = trace_cli(config, tmp_path, resp.data, f"scan.{fmt.lower()}")
        assert traced.exit_code == 0, traced.output
        assert resp.headers["X-Copy-Id"] in traced.output and custodian.email in traced.output


def test_copy_outside_a_grant_is_refused_and_audited(api, make: Factory, vault, db):
    record = make.record(make.client("general"), content=b"SECRET-COPY-TERMS")
    consult_only = make.person()
    make.grant(consult_only, record, actions=("consult",))
    nobody = make.person()
    auditor = make.person(roles=("employee", "auditor"))
    out_of_scope = make.custodian("core")
    cases = [
        (consult_only, "grant_does_not_cover_copy"),
        (nobody, "no_grant"),
        (auditor, "auditor_no_content"),
        (out_of_scope, "tier_out_of_scope"),
    ]
    for person, code in cases:
        resp = api.post(
            f"/records/{record.id}/copy", make.token(person), json={"purpose": "take it home"}
        )
        assert resp.status_code == 403 and resp.json["code"] == code, (code, resp.json)
        assert b"SECRET-COPY-TERMS" not in resp.data
    # The consult grant still consults; it just does not copy.
    ok = api.get(f"/records/{record.id}/content?purpose=read", make.token(consult_only))
    assert ok.status_code == 200
    assert copy_events(db, record.id) == [("deny", p.id) for p, _ in cases]


def test_bad_copy_requests_change_nothing(api, make: Factory, vault, db, config, tmp_path):
    custodian = make.token(make.custodian())
    client = make.client("general")
    record = make.record(client)
    missing = api.post(f"/records/{record.id}/copy", custodian, json={})
    assert missing.status_code == 400 and missing.json["code"] == "purpose_required"
    zipped = filed(vault, db, client, b"PK\x03\x04zip", "application/zip")
    resp = api.post(f"/records/{zipped.id}/copy", custodian, json={"purpose": "archive"})
    assert resp.status_code == 400 and resp.json["code"] == "copy_format_unsupported"
    lying = filed(vault, db, client, b"not a pdf at all", "application/pdf")
    resp = api.post(f"/records/{lying.id}/copy", custodian, json={"purpose": "archive"})
    assert resp.status_code == 400 and resp.json["code"] == "copy_unreadable"
    assert b"not a pdf" not in resp.data
    assert [d for d, _ in copy_events(db, lying.id)] == ["n/a"]  # logged as an error
    gone = api.post("/records/999999/copy", custodian, json={"purpose": "archive"})
    assert gone.status_code == 404 and gone.json["code"] == "record_not_found"

    plain = trace_cli(config, tmp_path, b"just a text file")
    assert plain.exit_code == 4 and "no_watermark" in plain.output
    forged = trace_cli(config, tmp_path, b"[ARCHIVE VAULT COPY AVC-0123456789abcdef0123]")
    assert forged.exit_code == 4 and "copy_not_found" in forged.output
    employee = make.token(make.person())
    resp = api.client.post(
        "/api/v1/audit/trace-copy",
        headers={"Authorization": f"Bearer {employee}"},
        data={"file": (io.BytesIO(b"x"), "x.txt")},
    )
    assert resp.status_code == 403
