"""The auditor's desk: the audit log newest first, in words and names, filters kept in the
address, and one event's place in the chain with its MAC checked again — in both languages."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from audit import drop_append_only_ddl
from tests.webclient import events, text_of
from vault.web.ui import auditing

ROWS = re.compile(r'<tr class="decision-[a-z]+">\s*<td><a href="/audit/events/(\d+)">')
NEXT = re.compile(r'href="([^"]+)" rel="next"')

WORDS = {
    "en": {
        "consult": "Consult a record",
        "deposit": "Deposit a record",
        "deny": "Denied",
        "refused": "Refused",
        "no_grant": "Only designated custodians, or holders of an approved grant",
        "mac_ok": "The event matches its MAC",
        "mac_bad": "The event does not match its MAC",
        "waiting": "Awaiting the chain",
        "covered": "Covered by the checkpoint at position",
        "signed": "Its signature is valid.",
        "chain_ok": "The chain hash matches.",
    },
    "zh": {
        "consult": "阅览档案",
        "deposit": "提交档案",
        "deny": "拒绝",
        "refused": "已拒绝",
        "no_grant": None,  # filled from the catalogue below
        "mac_ok": "事件与其 MAC 相符",
        "mac_bad": "事件与其 MAC 不符",
        "waiting": "等待入链",
        "covered": "由位置",
        "signed": "其签名有效。",
        "chain_ok": "链哈希一致。",
    },
}
LANGS = {"en": "en", "zh": "zh-CN,zh;q=0.9"}


def _words(lang: str) -> dict[str, str]:
    words = dict(WORDS[lang])
    if lang == "zh":
        from tests.integration.test_ui_i18n import zh_catalog

        words["no_grant"] = (
            zh_catalog()
            .get(
                "Only designated custodians, or holders of an approved grant, may see this content."
            )
            .string[:12]
        )
    return words


def _seqs(page: str) -> list[int]:
    return [int(s) for s in ROWS.findall(page)]


def _auditor(web, make, lang: str):
    auditor = make.person(roles=("employee", "auditor"))
    browser = web.another(lang=LANGS[lang])
    browser.sign_in(auditor)
    return auditor, browser


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_the_log_shows_names_file_numbers_and_words_newest_first(web, make, vault, lang):
    record = make.record()
    stranger = make.person()
    stranger.name = "Wang Xiaoming"
    web.db.commit()
    other = web.another()
    other.sign_in(stranger)
    other.post(f"/records/{record.id}/consult", {"purpose": "curious"})
    auditor, browser = _auditor(web, make, lang)
    words = _words(lang)

    page = browser.get("/audit").get_data(as_text=True)
    seqs = _seqs(page)
    assert len(seqs) > 3 and seqs == sorted(seqs, reverse=True)
    refused = browser.get(f"/audit?person={stranger.email}&action=record:consult&decision=deny")
    text = text_of(refused.get_data(as_text=True))
    assert "Wang Xiaoming" in text and stranger.email in text
    assert record.file_number in text and record.client.code in text
    assert words["consult"] in text and words["deny"] in text and words["refused"] in text
    assert words["no_grant"] in text
    assert f"#{stranger.id} " not in text and "client=" not in text and "record=" not in text
    # The page is decided as before (vault.authz.require through the gate): a refusal is
    # audited.
    assert other.get("/audit").status_code == 403
    assert events(vault, action="audit:read", person_id=stranger.id, decision="deny")
    assert auditor.id != stranger.id


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_the_filters_and_the_order_stay_in_the_address_across_pages(
    web, make, vault, lang, monkeypatch
):
    client = make.client()
    for _ in range(5):
        make.record(client)
    make.record()  # another client's: filtered out
    _, browser = _auditor(web, make, lang)
    monkeypatch.setattr(auditing, "PAGE_SIZE", 2)
    words = _words(lang)

    first = browser.get(f"/audit?client={client.code}&action=record:deposit")
    page = first.get_data(as_text=True)
    assert first.status_code == 200 and 'method="get"' in page
    assert f'name="client" value="{client.code}"' in page
    later = NEXT.search(page).group(1).replace("&amp;", "&")
    assert "action=record:deposit" in later and f"client={client.code}" in later
    assert "before=" in later
    seen = _seqs(page)
    while later:
        page = browser.get(later).get_data(as_text=True)
        seen += _seqs(page)
        found = NEXT.search(page)
        later = found.group(1).replace("&amp;", "&") if found else ""
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    assert text_of(page).count(words["deposit"]) >= 1

    oldest = browser.get(f"/audit?client={client.id}&action=record:deposit&order=oldest")
    page = oldest.get_data(as_text=True)
    assert _seqs(page) == sorted(seen)[:2]
    later = NEXT.search(page).group(1).replace("&amp;", "&")
    assert "order=oldest" in later and "after=" in later
    assert _seqs(browser.get(later).get_data(as_text=True)) == sorted(seen)[2:4]
    assert '<option value="oldest" selected>' in page

    record = make.record(client)
    by_number = browser.get(f"/audit?record={record.file_number}").get_data(as_text=True)
    assert record.file_number in text_of(by_number) and len(_seqs(by_number)) == 1
    assert browser.get("/audit?client=NO-SUCH").status_code == 400


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_an_event_shows_its_place_in_the_chain_and_its_mac_checked_again(web, make, vault, lang):
    make.record()
    _, browser = _auditor(web, make, lang)
    words = _words(lang)
    seq = 3
    waiting = text_of(browser.get(f"/audit/events/{seq}").get_data(as_text=True))
    assert words["mac_ok"] in waiting and words["waiting"] in waiting

    vault.maybe_seal(force=True)
    page = browser.get(f"/audit/events/{seq}").get_data(as_text=True)
    text = text_of(page)
    assert words["mac_ok"] in text and words["chain_ok"] in text
    assert words["covered"] in text and words["signed"] in text
    with vault.engine.connect() as conn:
        macs = dict(conn.execute(sa.text("SELECT seq, mac FROM audit_events")).all())
        position = conn.execute(
            sa.text("SELECT position FROM audit_chain WHERE event_seq = :s"), {"s": seq}
        ).scalar_one()
    assert re.search(rf'id="chain-position">{position}<', page)
    assert f'id="prev-mac">{macs[seq - 1]}<' in page
    assert macs[seq] in page


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_a_changed_event_fails_its_mac_check(web, make, vault, db, backend, lang):
    make.record()
    _, browser = _auditor(web, make, lang)
    words = _words(lang)
    vault.maybe_seal(force=True)
    for statement in drop_append_only_ddl(backend if backend == "sqlite" else "postgresql"):
        db.execute(sa.text(statement))
    db.execute(
        sa.text("UPDATE audit_events SET body = replace(body, '\"ok\"', '\"no\"') WHERE seq = 2")
    )
    db.commit()
    text = text_of(browser.get("/audit/events/2").get_data(as_text=True))
    assert words["mac_bad"] in text
