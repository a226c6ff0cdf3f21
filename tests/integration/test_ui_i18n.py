"""Every string a page shows is translated: the catalogue is complete, and no page in Chinese
shows an English sentence from it."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.webclient import text_of
from vault import uow
from vault.appraisal import holds
from vault.caller import Caller
from vault.web.i18n import catalog_path

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "_l": None,
    "lazy_gettext": None,
    "ngettext": (1, 2),
    "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "lazy_pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
}
METHOD_MAP = [("vault/web/**.py", "python"), ("vault/web/templates/**.html", "jinja2")]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-#0 +]*\d*(?:\.\d+)?[sdfr]")


def extracted_in_context() -> set[tuple[str, str | None]]:
    """Every (msgid, message context) in the web layer's code and templates, as
    ``pybabel extract`` finds them."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS
    ):
        found.add((message if isinstance(message, str) else message[0], context))
    return found


def extracted() -> set[str]:
    """Every msgid in the web layer's code and templates."""
    return {message for message, _context in extracted_in_context()}


def zh_catalog():
    with catalog_path("zh_Hans").open("rb") as fh:
        return read_po(fh, locale="zh_Hans")


def test_the_babel_config_matches_the_extraction_used_here():
    cfg = (ROOT / "vault/web/babel.cfg").read_text()
    for pattern, method in METHOD_MAP:
        assert f"[{method}: {pattern}]" in cfg


def test_every_string_has_a_chinese_translation():
    catalog = zh_catalog()
    wanted = extracted_in_context()
    assert len(wanted) > 250
    assert ("Open", "button") in wanted and ("Open", "alert") in wanted
    missing = sorted(m for m, c in wanted if not (catalog.get(m, c) and catalog.get(m, c).string))
    assert missing == [], f"untranslated: {missing[:10]}"
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert fuzzy == []
    stale = sorted(m.id for m in catalog if m.id and (m.id, m.context) not in wanted)
    assert stale == [], f"no longer used: {stale[:10]}"


def test_translations_keep_their_placeholders():
    for message in zh_catalog():
        if message.id:
            assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
                PLACEHOLDER.findall(message.string)
            ), message.id


def test_the_domain_terms_are_used():
    catalog = zh_catalog()
    terms = {
        "Reading room": "阅览室",
        "Core": "核心",
        "Special": "特殊",
        "General": "一般",
        "Basic information": "基础资料",
        "Credit, finance and payment": "信誉、财务、付款",
        "Transactions": "交易状况",
        "Returns and discounts": "退赔、折价",
        "Custodian": "档案管理员",
        "Government body": "政府机构",
        "Partner": "交易伙伴",
        "Year volume": "年度卷",
        "Active": "正在交易",
        "Former": "曾经交易",
    }
    for english, chinese in terms.items():
        assert catalog.get(english).string == chinese


def test_no_english_sentence_reaches_a_chinese_page(web, make, vault):
    sentences = {m for m in extracted() if " " in m and len(m) >= 12}
    everyone = make.admin()
    everyone.roles = ("admin", "auditor", "employee")
    web.db.commit()
    custodian = make.custodian()
    record = make.record()
    chinese = web.another(lang="zh-CN,zh;q=0.9")
    paths = ["/auth/login", "/auth/signed-out"]
    for path in paths:
        _check(chinese.get(path), sentences, path)
    _check(
        chinese.post("/auth/login", {"email": "x@example.test", "password": "wrong"}),
        sentences,
        "failed sign-in",
    )
    chinese.sign_in(everyone)
    for path in (
        "/",
        "/catalogue",
        "/clients",
        f"/records/{record.id}",
        "/deposit",
        f"/records/{record.id}/consult",
        "/audit",
        "/audit/events/1",
        "/audit/verify",
        "/admin/people",
        "/admin/people/new",
        f"/admin/people/{custodian.id}",
        "/admin/designations",
        "/admin/keys",
        f"/admin/people/{custodian.id}/departure-report",
        "/no-such-page",
        "/catalogue?section=secret",
        f"/requests/new?record={record.id}",
        "/requests",
        "/requests/waiting",
        "/grants",
        "/alerts",
        "/notifications",
        "/patterns",
        f"/patterns?person={custodian.id}",
        "/departure-watch",
        "/why",
        f"/why?action=record:consult&record={record.id}",
        f"/why?action=record:copy&record={record.id}&person={custodian.email}",
        "/me/account",
    ):
        _check(chinese.get(path), sentences, path)
    _check(chinese.post("/deposit", {"section": "basic"}), sentences, "bad deposit")
    asked = chinese.post(
        "/requests",
        {"record": record.id, "reason": "核对 付款 条件 与 信用 额度 的 最新 变化 情况"},
    )
    _check(chinese.get(asked.headers["Location"]), sentences, "request detail")
    _check(
        chinese.post("/requests", {"record": record.id, "reason": "x"}), sentences, "bad request"
    )
    _check(
        chinese.post(f"/records/{record.id}/consult", {"purpose": "查看"}),
        sentences,
        "refused consultation",
    )
    reader = web.another(lang="zh")
    reader.sign_in(custodian)
    for path in ("/custody/files", "/custody/loans", f"/records/{record.id}"):
        _check(reader.get(path), sentences, f"custodian {path}")
    _check(
        reader.post(f"/records/{record.id}/consult", {"purpose": "核对付款条件"}),
        sentences,
        "reading room",
    )


def test_a_page_speaks_each_request_language_not_the_first_one(web, make, vault):
    """Jinja folds a filter applied to a literal (``"held"|label(...)``) into the
    template's code when it first compiles it: in the language of the page that came
    first, for every page after it in that process, unless the filter cannot be folded."""
    keeper = make.custodian("general")
    record = make.record()
    uow.run(
        web.db,
        holds.place,
        vault,
        web.db,
        Caller(person=keeper),
        reason="litigation",
        record_ids=[record.id],
    )
    english = web.another(lang="en")
    english.sign_in(keeper)
    chinese = web.another(lang="zh-CN,zh;q=0.9")
    chinese.sign_in(keeper)
    first = english.get("/catalogue").get_data(as_text=True)
    assert "Held (legal hold)" in first and "冻结中" not in first
    page = chinese.get("/catalogue").get_data(as_text=True)
    assert "冻结中" in page and "Held (legal hold)" not in page
    assert "Held (legal hold)" in english.get("/catalogue").get_data(as_text=True)


def _check(resp, sentences: set[str], where: str) -> None:
    page = resp.get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page, where
    # What the page marks as English is data in English (an admin-written rule title),
    # not the page's own words.
    text = text_of(re.sub(r'<(\w+) lang="en">.*?</\1>', " ", page, flags=re.S))
    attributes = " ".join(re.findall(r'(?:aria-label|alt|title|placeholder)="([^"]*)"', page))
    leaked = sorted(s for s in sentences if s in text or s in attributes)
    assert leaked == [], f"{where}: {leaked}"
