"""A record's attachments in the reading room: listed with the record, each opened there
through the choke point (decided, audited per opening, decrypted), under the reader's
watermark, never cached nor offered for download; refused with the reason in words."""

from __future__ import annotations

import base64
import io
import re

import pytest

from tests.webclient import error_code, events, text_of
from vault import uow
from vault.archive import records
from vault.caller import Caller
from vault.web.headers import PAGE_CSP

CANARY = "CANARY-附件-attachment-9K"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WORDS = {
    "en": {
        "room": "Reading room",
        "attached": "Attached file: visit-note.txt",
        "no_grant": "Only designated custodians, or holders of an approved grant",
    },
    "zh": {"room": "阅览室", "attached": "附件\uff1avisit-note.txt", "no_grant": "只有"},
}


def html(resp) -> str:
    return resp.get_data(as_text=True)


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


@pytest.fixture
def filed(make, vault, db):
    custodian = make.custodian()
    record = make.record(make.client("core"), content=b"the record itself")
    note = _attach(vault, db, custodian, record, "visit-note.txt", "text/plain", CANARY.encode())
    photo = _attach(vault, db, custodian, record, "site.png", "image/png", PNG)
    sheet = _attach(vault, db, custodian, record, "sums.xls", "application/vnd.ms-excel", b"PK\3\4")
    db.commit()
    return {"custodian": custodian, "record": record, "note": note, "photo": photo, "sheet": sheet}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_reading_room_lists_attachments_and_opens_each_there_audited(web, vault, filed, lang):
    words = WORDS[lang]
    custodian, record, note = filed["custodian"], filed["record"], filed["note"]
    reader = web.another(lang=lang)
    reader.sign_in(custodian)
    room = reader.post(f"/records/{record.id}/consult", {"purpose": "check the visit"})
    assert room.status_code == 200
    page = html(room)
    for att in (note, filed["photo"], filed["sheet"]):
        assert f"/records/{record.id}/attachments/{att.id}/consult" in page
        assert att.filename in page
    assert CANARY not in page  # listed, not opened
    assert 'name="purpose" value="check the visit"' in page

    path = f"/records/{record.id}/attachments/{note.id}/consult"
    for _ in range(2):
        opened = reader.post(path, {"purpose": "check the visit"})
        assert opened.status_code == 200
        shown = html(opened)
        assert re.search(rf'<pre id="attachment-content">{CANARY}</pre>', shown)
        assert words["room"] in shown and words["attached"] in text_of(shown)
        overlay = re.search(r'<div class="watermark"[^>]*>(.*?)</div>', shown, re.S).group(1)
        assert custodian.name in overlay and custodian.email in overlay and "UTC" in overlay
        assert opened.headers["Content-Disposition"] == "inline"
        assert opened.headers["Cache-Control"] == "no-store"
        assert opened.headers["Content-Security-Policy"] == PAGE_CSP.format(sso="")
        assert "download" not in shown.lower() and "/content" not in shown
    photo = html(
        reader.post(
            f"/records/{record.id}/attachments/{filed['photo'].id}/consult",
            {"purpose": "check the visit"},
        )
    )
    assert 'src="data:image/png;base64,' in photo
    sheet = reader.post(
        f"/records/{record.id}/attachments/{filed['sheet'].id}/consult",
        {"purpose": "check the visit"},
    )
    assert sheet.status_code == 200
    assert 'id="attachment-content"' not in html(sheet)
    assert 'id="attachment-image"' not in html(sheet)

    # One audit event per opening, naming the attachment and the purpose.
    opened_events = [
        e
        for e in events(vault, action="record:consult", person_id=custodian.id)
        if e.resource.get("attachment") == str(note.id)
    ]
    assert [(e.decision, e.purpose) for e in opened_events] == [
        ("allow", "check the visit"),
        ("allow", "check the visit"),
    ]
    assert opened_events[0].resource == {
        "record": str(record.id),
        "attachment": str(note.id),
        "client": str(record.client_id),
    }
    assert opened_events[-1].id in shown


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_person_who_may_not_consult_is_refused_an_attachment_with_the_reason(
    web, make, vault, filed, lang
):
    record, note = filed["record"], filed["note"]
    path = f"/records/{record.id}/attachments/{note.id}/consult"
    for person, code in (
        (make.person(), "no_grant"),
        (make.person(roles=("employee", "auditor")), "auditor_no_content"),
        (make.custodian("general"), "tier_out_of_scope"),
    ):
        browser = web.another(lang=lang)
        browser.sign_in(person)
        resp = browser.post(path, {"purpose": "just looking"})
        assert resp.status_code == 403 and error_code(resp) == code
        assert CANARY not in html(resp)
        if code == "no_grant":
            assert WORDS[lang]["no_grant"] in text_of(html(resp))
        refused = events(vault, action="record:consult", person_id=person.id)
        assert [(e.decision, e.reason, e.resource.get("attachment")) for e in refused] == [
            ("deny", code, str(note.id))
        ]
    # No purpose, or an attachment of another record: refused too, nothing shown.
    reader = web.another(lang=lang)
    reader.sign_in(filed["custodian"])
    blank = reader.post(path, {"purpose": " "})
    assert blank.status_code == 400 and error_code(blank) == "purpose_required"
    other = make.record(make.client("core"))
    elsewhere = reader.post(
        f"/records/{other.id}/attachments/{note.id}/consult", {"purpose": "just looking"}
    )
    assert elsewhere.status_code == 404 and error_code(elsewhere) == "attachment_not_found"
    assert CANARY not in html(blank) + html(elsewhere)
