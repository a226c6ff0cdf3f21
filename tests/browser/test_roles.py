"""Each role's main flow, end to end, by clicking through the real pages, in both languages.

The employee and the auditor sign in through single sign-on (the real provider's pages);
the custodian and the admin with the demo's local passwords (the admin with a one-time
code). Screenshots of every step are kept in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import csv
import io
import re

import pyotp
from playwright.sync_api import Page, expect

from tests.browser.conftest import LANGS, Demo, Shots
from tests.webclient import events

TEXT = {
    "en": {
        "catalogue": "Catalogue",
        "reading_room": "Reading room",
        "audit_log": "Audit log",
        "intact": "The audit log is intact.",
        "people": "People",
        "signed_out": "You have signed out",
        "no_grant": "Only designated custodians",
        "filed": "Filed as",
        "keys": "Key provider status",
        "added": "was added.",
        "proposed": "a second administrator approves it",
        "pending": "Waiting for a decision",
        "deposit": "Deposit a record",
        "mac_ok": "The event matches its MAC",
        "tiers": "General, Special",
    },
    "zh": {
        "catalogue": "档案目录",
        "reading_room": "阅览室",
        "audit_log": "审计日志",
        "intact": "审计日志完好。",
        "people": "人员",
        "signed_out": "您已退出登录",
        "no_grant": "只有被指定的档案管理员",
        "filed": "已归档",
        "keys": "密钥提供者状态",
        "added": "已添加",
        "proposed": "经第二位管理员批准后生效",
        "pending": "等待审批",
        "deposit": "提交档案",
        "mac_ok": "事件与其 MAC 相符",
        "tiers": "一般、特殊",
    },
}


def html_lang(lang: str) -> str:
    return "zh-Hans" if lang == "zh" else "en"


def sign_in_locally(page: Page, demo: Demo, who: str, shots: Shots, code: str = "") -> None:
    login = demo.logins[who]
    page.goto(demo.url + "/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next=/$"))
    page.fill("#email", login.email)
    page.fill("#password", login.password)
    if code:
        page.fill("#code", code)
    shots("sign-in")
    page.click("#local-sign-in")
    expect(page).to_have_url(demo.url + "/")


def sign_in_with_sso(
    page: Page, demo: Demo, account: str, shots: Shots, start: str = "/catalogue"
) -> None:
    page.goto(demo.url + start)
    expect(page.locator("#sso-button")).to_be_visible()
    shots("sign-in-page")
    page.click("#sso-button")
    # The provider's own pages: its login form, then its consent form.
    page.fill('input[name="login"]', account)
    page.fill('input[name="password"]', "any password")
    shots("provider-login")
    page.click('button[type="submit"]')
    if "/interaction/" in page.url:
        page.click('button[type="submit"]')
    expect(page).to_have_url(demo.url + start)


def sign_out(page: Page, demo: Demo, lang: str, shots: Shots, *, sso: bool) -> None:
    page.click("#sign-out")
    if sso:  # the provider asks to confirm the sign-out there too
        page.locator('button[type="submit"], input[type="submit"]').first.click()
    expect(page).to_have_url(re.compile(r"/auth/signed-out"))
    expect(page.locator("h1")).to_have_text(TEXT[lang]["signed_out"])
    shots("signed-out")
    page.goto(demo.url + "/catalogue")
    expect(page).to_have_url(re.compile(r"/auth/login"))


def test_employee_searches_deposits_and_is_refused_content(
    page: Page, demo: Demo, lang: str, shots: Shots
) -> None:
    sign_in_with_sso(page, demo, "alice", shots)
    expect(page.locator("html")).to_have_attribute("lang", html_lang(lang))
    expect(page.locator("h1")).to_have_text(TEXT[lang]["catalogue"])
    page.fill('input[name="q"]', "Credit report")
    page.click('form[role="search"] button[type="submit"]')
    rows = page.locator("#catalogue-results tbody tr")
    expect(rows).to_have_count(3)
    shots("catalogue-search")
    rows.first.locator("a").click()
    expect(page.locator(".subtitle code")).to_have_text(re.compile(r"^[A-Z]+-2-\d{4}-\d{4}$"))
    shots("record-card")
    # Deposit a record in a client's file.
    page.click('a[href="/deposit"]')
    page.select_option("#client_id", label="BLUESKY — Blue Sky Retail Ltd.")
    page.select_option("#section", "transactions")
    page.fill("#title", "Order 2041")
    page.fill("#content", "200 cartons, delivery in March")
    shots("deposit-form")
    page.click("#deposit-button")
    expect(page.locator(".flash-ok")).to_contain_text(TEXT[lang]["filed"])
    shots("deposited")
    # ...and cannot read it back: the reading room refuses, saying why.
    page.click("#consult-link")
    page.fill("#purpose", "check my own deposit")
    page.click("#consult-button")
    expect(page.locator(".error")).to_contain_text(TEXT[lang]["no_grant"])
    expect(page.locator(".error-code")).to_have_text("no_grant")
    expect(page.locator("#record-content")).to_have_count(0)
    shots("consult-refused")
    sign_out(page, demo, lang, shots, sso=True)


def test_custodian_consults_a_record_in_the_reading_room(
    page: Page, demo: Demo, lang: str, shots: Shots
) -> None:
    sign_in_locally(page, demo, "custodian", shots)
    shots("start")
    page.click('a[href="/catalogue"] >> nth=0')
    page.select_option('select[name="client"]', label="ACME — Acme Trading Co.")
    page.select_option('select[name="section"]', "credit")
    page.click('form[role="search"] button[type="submit"]')
    page.locator("#catalogue-results tbody tr a").first.click()
    page.click("#consult-link")
    expect(page.locator("h1")).to_have_text(TEXT[lang]["reading_room"])
    page.fill("#purpose", "renew the payment terms")
    page.click("#consult-button")
    expect(page.locator("#record-content")).to_contain_text("Credit rating A-")
    overlay = page.locator(".watermark span").first
    expect(overlay).to_contain_text("Li Wei")
    expect(overlay).to_contain_text("custodian@demo.example")
    expect(page.locator("a[download]")).to_have_count(0)
    shots("reading-room")
    custodian = demo.logins["custodian"].email
    consults = [
        e for e in events(demo.vault, action="record:consult") if e.actor.subject == custodian
    ]
    assert [e.purpose for e in consults] == ["renew the payment terms"]
    sign_out(page, demo, lang, shots, sso=False)


def test_auditor_filters_the_log_checks_it_and_exports_it(
    page: Page, demo: Demo, lang: str, shots: Shots
) -> None:
    sign_in_with_sso(page, demo, "audrey", shots, start="/audit")
    expect(page.locator("h1")).to_have_text(TEXT[lang]["audit_log"])
    page.select_option('select[name="action"]', "record:deposit")
    page.select_option('select[name="decision"]', "n/a")
    page.click('form[role="search"] button[type="submit"]')
    rows = page.locator("#audit-events tbody tr")
    # The demo's deposits: 12, a scan, a lapsed survey, and 4 of former clients (appraisal).
    expect(rows).to_have_count(18)
    expect(page).to_have_url(re.compile(r"action=record%3Adeposit|action=record:deposit"))
    expect(rows.first.locator("td").nth(2)).to_have_text(TEXT[lang]["deposit"])
    shots("audit-filtered")
    rows.first.locator("a").first.click()
    expect(page.locator("#event-detail")).to_contain_text(TEXT[lang]["deposit"])
    expect(page.locator("#mac-check")).to_contain_text(TEXT[lang]["mac_ok"])
    shots("audit-event")
    page.goto(demo.url + "/audit?action=record:deposit")
    with page.expect_download() as download:
        page.click("#export-csv")
    body = download.value.path().read_text(encoding="utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(body)))
    assert len(exported) == 18 and {r["action"] for r in exported} == {"record:deposit"}
    assert "Credit rating" not in body  # the log, never content
    page.goto(demo.url + "/audit/verify")
    expect(page.locator("#verify-result")).to_have_text(TEXT[lang]["intact"])
    shots("audit-verify")
    sign_out(page, demo, lang, shots, sso=True)


def test_admin_adds_a_person_designates_and_creates_their_own_token(
    page: Page, demo: Demo, lang: str, shots: Shots
) -> None:
    secret = demo.logins["admin"].totp_secret
    assert secret
    sign_in_locally(page, demo, "admin", shots, code=pyotp.TOTP(secret).now())
    page.click('a[href="/admin/people"] >> nth=0')
    expect(page.locator("h1")).to_have_text(TEXT[lang]["people"])
    shots("people")
    page.click("#add-person")
    page.fill("#email", "zhao.lei@demo.example")
    page.fill("#name", "Zhao Lei")
    page.fill("#hired_on", "2016-04-01")
    page.check('input[name="roles"][value="auditor"]')
    shots("add-person")
    page.click('button.primary[type="submit"]')
    expect(page.locator(".flash-ok")).to_contain_text(TEXT[lang]["added"])
    page.check('input[name="tiers"][value="general"]')
    page.check('input[name="tiers"][value="special"]')
    page.fill('input[name="reason"] >> nth=0', "keeps the general and special files")
    page.click("#designate-button")
    # One admin proposes; the designation waits for a second admin.
    expect(page.locator(".flash-ok")).to_contain_text(TEXT[lang]["proposed"])
    expect(page.locator("#waiting")).to_contain_text(TEXT[lang]["tiers"])  # in words
    # No token is issued for someone else: the person page only lists and revokes.
    expect(page.locator("#issue-token")).to_have_count(0)
    page.click("#my-profile")
    expect(page.locator("#my-sessions")).to_be_visible()
    shots("profile")
    page.click("#my-tokens-link")
    page.fill('input[name="label"]', "reporting script")
    page.click("#create-token")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("avt_")
    shots("own-token")
    page.click('a[href="/admin/keys"] >> nth=0')
    expect(page.locator("h1")).to_have_text(TEXT[lang]["keys"])
    expect(page.locator("#key-status")).to_contain_text("local-1")
    shots("keys")
    sign_out(page, demo, lang, shots, sso=False)


def test_the_language_switch_on_every_page(page: Page, demo: Demo, lang: str, shots: Shots) -> None:
    page.goto(demo.url + "/auth/login")
    other = "en" if lang == "zh" else "zh_Hans"
    page.click(f"#lang-{other}")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    expect(page.locator("html")).to_have_attribute("lang", "en" if lang == "zh" else "zh-Hans")
    shots("switched")
    sign_in_locally(page, demo, "sales", shots)
    expect(page.locator("html")).to_have_attribute("lang", "en" if lang == "zh" else "zh-Hans")


def test_employee_asks_a_custodian_approves_and_the_employee_consults(
    page: Page, demo: Demo, lang: str, shots: Shots, chromium
) -> None:
    # The employee asks for BLUESKY's credit report, with a reason.
    sign_in_with_sso(page, demo, "alice", shots)
    page.select_option('select[name="client"]', label="BLUESKY — Blue Sky Retail Ltd.")
    page.select_option('select[name="section"]', "credit")
    page.click('form[role="search"] button[type="submit"]')
    page.locator("#catalogue-results tbody tr a").first.click()
    page.click("#request-link")
    page.fill("#reason", "call the client about the overdue invoice")
    page.fill("#hours", "2")
    shots("ask")
    page.click("#request-button")
    expect(page.locator("#request-status")).to_have_text(TEXT[lang]["pending"])
    request_url = page.url
    # The senior custodian, in their own browser, finds it waiting and approves it.
    keeper = chromium.new_context(locale=LANGS[lang])
    other = keeper.new_page()
    other_shots = Shots(other, shots.name + "-custodian")
    sign_in_locally(other, demo, "custodian", other_shots)
    other.click('a[href="/requests/waiting"] >> nth=0')
    other.locator("#requests tbody tr a").first.click()
    expect(other.locator("body")).to_contain_text("call the client about the overdue invoice")
    other_shots("decide")
    other.click("#approve-button")
    expect(other.locator(".flash-ok")).to_be_visible()
    keeper.close()
    # Back to the employee: the grant shows its time left; the reading room opens.
    page.goto(demo.url + "/grants")
    expect(page.locator("td.time-left").first).not_to_have_text("—")
    shots("grants")
    page.goto(request_url)
    page.click("#use-grant")
    page.fill("#purpose", "overdue invoice call")
    page.click("#consult-button")
    expect(page.locator("#record-content")).to_contain_text("Credit report for Blue Sky")
    expect(page.locator(".watermark span").first).to_contain_text("Alice Employee")
    shots("reading-room")
