"""Notifications are written in the reader's language from their message and values;
rows stored before that (English text only) are shown as they were stored."""

from __future__ import annotations

import pytest

from tests.webclient import text_of
from vault import uow
from vault.caller import Caller
from vault.grants import requests
from vault.models import Notification
from vault.oversight import alerts

SEEN = {
    "en": ("waits for you", "asks to Consult", "Item returned with pages missing"),
    "zh": ("待您处理", "申请对", "实物归还时缺页"),
}
LANGS = {"en": "en", "zh": "zh-CN,zh;q=0.9"}


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_notifications_are_written_in_the_readers_language(web, make, vault, db, lang):
    custodian = make.custodian()
    custodian.roles = ("employee", "auditor")
    employee = make.person()
    record = make.record()
    db.commit()
    ask = requests.Ask(reason="renew the payment terms", record_id=record.id)
    uow.run(db, requests.request_access, vault, db, Caller(person=employee), ask)
    uow.run(
        db,
        alerts.raise_alert,
        vault,
        db,
        Caller.operator(),
        "loan_returned_short",
        employee,
        "F1 came back with 8 of 10 pages",
    )
    db.add(Notification(person_id=custodian.id, kind="request_waiting", subject="Stored text"))
    db.commit()
    browser = web.another(lang=LANGS[lang])
    browser.sign_in(custodian)
    text = text_of(browser.get("/notifications").get_data(as_text=True))
    for words in SEEN[lang]:
        assert words in text, words
    assert record.file_number in text and employee.name in text
    assert "Stored text" in text  # a row from before: as stored
    if lang == "zh":
        assert "waits for you" not in text and "Alert:" not in text
